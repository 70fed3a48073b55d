package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"thingd/internal/testbed"
)

// benchConfig are the knobs of `thingd-bench bench`; the defaults are what `make bench` runs.
type benchConfig struct {
	thingd    string
	out       string
	runs      int // repetitions of each rate, the median is reported
	n         int // thingd's ingest and drain backlog
	ref       int // mosquitto_pub and bridge runs (<= 50k, see DESIGN.md §7)
	big       int // the large backlog for memory and flatness
	small     int // the small backlog for flatness
	costBatch int // messages per ingest-cost sample
	size      int // payload bytes
	readyRuns int
	singles   int // messages of the one-per-pub producer
	sizes     bool
	only      map[string]bool // steps to run; nil runs all
	env       []string        // extra environment of every thingd, e.g. GOGC=50
	profile   string
}

func benchCmd(ctx context.Context, args []string, out io.Writer) error {
	c := benchConfig{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.thingd, "thingd", "bin/thingd", "the thingd binary to measure (make build)")
	fs.StringVar(&c.out, "out", "", "write the report into this markdown file (keeps its Chaos and Notes sections)")
	fs.IntVar(&c.runs, "runs", 3, "runs of each rate; the median is reported")
	fs.IntVar(&c.n, "n", 100_000, "messages in thingd's ingest and drain runs")
	fs.IntVar(&c.ref, "ref", 50_000, "messages in the mosquitto_pub and bridge runs (mosquitto_pub 2.0.11 loses messages past 65535)")
	fs.IntVar(&c.big, "big", 1_000_000, "the large backlog for memory and per-message cost")
	fs.IntVar(&c.small, "small", 1_000, "the small backlog for per-message cost")
	fs.IntVar(&c.costBatch, "cost-batch", 10_000, "messages per ingest-cost sample")
	fs.IntVar(&c.size, "size", 100, "payload bytes per message")
	fs.IntVar(&c.readyRuns, "ready-runs", 10, "exec to READY=1 samples")
	fs.IntVar(&c.singles, "singles", 200, "messages sent one per thingd pub --message, for the bytes written per fsync")
	fs.BoolVar(&c.sizes, "sizes", true, "cross-build and report binary sizes")
	only := fs.String("only", "", "run only these steps (comma-separated: "+strings.Join(stepNames, ",")+"); prints figures, writes no report")
	fs.StringVar(&c.profile, "profile", "", "run thingd in-process with CPU and allocation profiles written into this directory (with --only)")
	env := fs.String("thingd-env", "", "extra environment for every thingd, comma-separated (e.g. GOGC=50,GOMEMLIMIT=8MiB)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *env != "" {
		c.env = strings.Split(*env, ",")
	}
	if c.profile != "" && *only == "" {
		return fmt.Errorf("%w: --profile needs --only: profiled figures are not the product's", errUsage)
	}
	if *only != "" {
		if c.out != "" {
			return fmt.Errorf("%w: --only measures a part; it cannot write the report (--out)", errUsage)
		}
		c.only, c.sizes = map[string]bool{}, false
		for _, s := range strings.Split(*only, ",") {
			if !slices.Contains(stepNames, s) {
				return fmt.Errorf("%w: unknown step %q; steps: %s", errUsage, s, strings.Join(stepNames, ","))
			}
			c.only[s] = true
		}
	}
	if c.ref > 65_000 {
		return fmt.Errorf("%w: --ref %d: mosquitto_pub loses messages past 65535 in one connection", errUsage, c.ref)
	}
	r, err := runBench(ctx, c, out)
	if err != nil {
		return err
	}
	if c.only != nil {
		return nil
	}
	doc := renderBench(r)
	fmt.Fprintln(out)
	fmt.Fprint(out, doc)
	if c.out != "" {
		if err := writeSection(c.out, sectionBench, doc); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nwrote %s\n", c.out)
	}
	return nil
}

// bench is one run of the benchmarks: the lab, the main broker and its subscriber.
type bench struct {
	ctx    context.Context
	c      benchConfig
	l      *lab
	broker *testbed.Mosquitto
	router *router
	closed int // a port nothing listens on: "the broker is unreachable"
	r      *benchResults
	files  map[string]string
}

func runBench(ctx context.Context, c benchConfig, out io.Writer) (*benchResults, error) {
	r := &benchResults{config: c, started: time.Now()}
	var err error
	if r.machine, err = describeMachine(c.thingd); err != nil {
		return nil, err
	}
	if c.sizes {
		fmt.Fprintln(out, "cross-building thingd for the size table")
		if r.sizes, err = binarySizes(ctx); err != nil {
			return nil, err
		}
	}
	l, err := newLab(ctx, c.thingd, out)
	if err != nil {
		return nil, err
	}
	defer l.close()
	l.thingdEnv, l.profileDir = c.env, c.profile
	b := &bench{ctx: ctx, c: c, l: l, router: newRouter(), r: r, files: map[string]string{}}
	if b.broker, err = l.startBroker(brokerOptions{name: "main", subInflight: 1000}); err != nil {
		return nil, err
	}
	sub, err := l.subscribe(subOptions{addr: b.broker.Addr, clientID: "bench-sub", topic: "bench/#", handle: b.router.handle})
	if err != nil {
		return nil, err
	}
	defer sub.close()
	if b.closed, err = testbed.LoopbackTCPPort(); err != nil {
		return nil, err
	}
	steps := map[string]func() error{
		"ready": b.ready, "idle": b.idle, "thingd": b.ingestAndDrain, "single": b.single, "pub": b.mosquittoPubRuns,
		"bridge": b.bridgeRuns, "small": b.smallBacklog, "big": b.bigThingd, "bigbridge": b.bigBridge,
	}
	for _, name := range stepNames {
		if c.only != nil && !c.only[name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l.logf("== %s: %s", name, stepTitles[name])
		if err := steps[name](); err != nil {
			return nil, fmt.Errorf("%s: %w", stepTitles[name], err)
		}
	}
	r.stray = b.router.stray
	r.finished = time.Now()
	r.loadAfter = loadAverage()
	return r, nil
}

// stepNames are the benchmark's steps in the order they run.
var stepNames = []string{"ready", "idle", "thingd", "single", "pub", "bridge", "small", "big", "bigbridge"}

var stepTitles = map[string]string{
	"ready": "exec to READY=1", "idle": "idle memory", "thingd": "thingd ingest and drain",
	"single": "one message per pub",
	"pub":    "mosquitto_pub straight to the broker", "bridge": "mosquitto bridge",
	"small": "per-message cost with a small backlog", "big": "thingd with a large backlog",
	"bigbridge": "bridge with a large backlog",
}

// lines returns a file of messages from..to-1, made once per range.
func (b *bench) lines(from, to int) (string, error) {
	key := fmt.Sprintf("%d-%d", from, to)
	if f, ok := b.files[key]; ok {
		return f, nil
	}
	f := filepath.Join(b.l.dir, "lines-"+key+".txt")
	if err := writeLines(f, from, to, b.c.size); err != nil {
		return "", err
	}
	b.files[key] = f
	return f, nil
}

// pubFile runs `thingd pub --lines` with a lines file.
func (b *bench) pubFile(socket, topic, file string) (time.Duration, error) {
	in, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	return b.l.pub(b.ctx, socket, topic, in)
}

// drainWait waits for every message of t, failing when arrivals stall.
func (b *bench) drainWait(t *tally) error {
	return t.wait(b.ctx, 30*time.Second)
}
