package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"thingd/internal/testbed"
)

// chaosConfig are the knobs of `thingd-bench chaos`; the defaults are what `make chaos` runs.
type chaosConfig struct {
	thingd    string
	out       string
	messages  int
	producers int
	chunk     int           // lines per `thingd pub --lines`; a chunk is acknowledged only if pub exits 0
	duration  time.Duration // producers are paced to spread their messages over this long
	kills     int           // SIGKILLs of thingd
	restarts  int           // broker restarts
	cuts      int           // network cuts between thingd and the broker
	seed      uint64
	settle    time.Duration // how long deliveries may stall at the end before the run fails
	latency   time.Duration // round trip added between thingd and the broker
	// aws runs against the AWS-like broker instead of mosquitto: its faults are denied
	// publishes (the IoT policy) and dropped PUBACKs instead of broker restarts.
	aws       bool
	denies    int    // messages outside the policy, with aws
	dropEvery uint64 // drop the PUBACK of every n-th publish, with aws; 0: none
}

func defaultChaos() chaosConfig {
	return chaosConfig{thingd: "bin/thingd", messages: 100_000, producers: 4, chunk: 500, duration: 2 * time.Minute,
		kills: 5, restarts: 2, cuts: 2, denies: 1, dropEvery: 50, settle: 2 * time.Minute, latency: 40 * time.Millisecond}
}

func chaosCmd(ctx context.Context, args []string, out io.Writer) error {
	c := defaultChaos()
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.thingd, "thingd", c.thingd, "the thingd binary (make build)")
	fs.StringVar(&c.out, "out", "", "write the figures into the Chaos section of this markdown file")
	fs.IntVar(&c.messages, "messages", c.messages, "numbered messages in all")
	fs.IntVar(&c.producers, "producers", c.producers, "concurrent producers")
	fs.IntVar(&c.chunk, "chunk", c.chunk, "lines per thingd pub --lines")
	fs.DurationVar(&c.duration, "duration", c.duration, "how long the producers take")
	fs.IntVar(&c.kills, "kills", c.kills, "SIGKILLs of the daemon")
	fs.IntVar(&c.restarts, "restarts", c.restarts, "broker restarts")
	fs.IntVar(&c.cuts, "cuts", c.cuts, "network cuts")
	fs.Uint64Var(&c.seed, "seed", 0, "random seed (0: from the time); printed to repeat a run")
	fs.DurationVar(&c.settle, "settle", c.settle, "fail when nothing arrives for this long at the end")
	fs.DurationVar(&c.latency, "latency", c.latency, "round trip added between thingd and the broker, so faults find messages in flight")
	fs.BoolVar(&c.aws, "aws", c.aws, "use the AWS-like broker: an IoT policy, denied publishes and dropped PUBACKs instead of broker restarts")
	fs.IntVar(&c.denies, "denies", c.denies, "with --aws: messages outside the IoT policy")
	fs.Uint64Var(&c.dropEvery, "drop-pubacks", c.dropEvery, "with --aws: drop the PUBACK of every n-th publish (0: none)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	res, err := runChaos(ctx, c, out)
	if res != nil {
		doc := renderChaos(res)
		fmt.Fprintln(out)
		fmt.Fprint(out, doc)
		if c.out != "" && err == nil {
			section := sectionChaos
			if c.aws {
				section = sectionChaosAWS
			}
			if werr := writeSection(c.out, section, doc); werr != nil {
				return werr
			}
			fmt.Fprintf(out, "\nwrote %s\n", c.out)
		}
	}
	if err != nil {
		return err
	}
	return res.verdict()
}

// chaos is one run: the world, the daemon of the moment, the producers' ledger and the
// subscriber's record.
type chaos struct {
	ctx    context.Context
	c      chaosConfig
	l      *lab
	broker *testbed.Mosquitto
	aws    *awsWorld
	gate   *gate
	setup  *thingdSetup
	ledger *ledger
	rec    *record
	rng    *rand.Rand

	mu     sync.Mutex
	d      *daemon
	events []event
}

func runChaos(ctx context.Context, c chaosConfig, out io.Writer) (*chaosResult, error) {
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	if c.producers < 1 || c.chunk < 1 || c.messages < c.producers {
		return nil, fmt.Errorf("%w: need producers >= 1, chunk >= 1 and messages >= producers", errUsage)
	}
	l, err := newLab(ctx, c.thingd, out)
	if err != nil {
		return nil, err
	}
	defer l.close()
	if c.aws {
		c.restarts = 0 // the AWS-like broker runs in this process; its faults replace restarts
	} else {
		c.denies = 0
	}
	l.logf("chaos: %d messages from %d producers in chunks of %d over %v; %d kills, %d broker restarts, %d cuts; seed %d",
		c.messages, c.producers, c.chunk, c.duration, c.kills, c.restarts, c.cuts, c.seed)
	ch := &chaos{ctx: ctx, c: c, l: l, rng: rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))}
	ch.ledger = newLedger(c.producers, c.messages)
	ch.rec = newRecord(ch.ledger)

	target := ""
	if c.aws {
		if ch.aws, err = ch.startAWS(c.dropEvery, ch.rec.add); err != nil {
			return nil, err
		}
		defer func() {
			l.logf("%s", ch.aws.awsSummary())
			ch.aws.close()
		}()
		target = ch.aws.b.Addr()
		l.logf("AWS-like broker on %s: policy allows publishing to chaos/# only; every %d-th PUBACK dropped; %d denied messages",
			target, c.dropEvery, c.denies)
	} else {
		// The subscriber's session and the broker's queue for it survive broker restarts
		// (persistence, SIGTERM saves it); mosquitto's default window of 20 towards it.
		if ch.broker, err = l.startBroker(brokerOptions{name: "main", persistence: true, subInflight: 20}); err != nil {
			return nil, err
		}
		sub, err := l.subscribe(subOptions{addr: ch.broker.Addr, clientID: "chaos-sub", persistent: true, topic: "chaos/#", handle: ch.rec.add})
		if err != nil {
			return nil, err
		}
		defer sub.close()
		target = ch.broker.Addr
	}
	if ch.gate, err = newGate(target); err != nil {
		return nil, err
	}
	ch.gate.delay = c.latency / 2
	defer ch.gate.cut()
	if err := ch.gate.open(); err != nil {
		return nil, err
	}
	if ch.setup, err = l.newThingd("chaos", ch.gate.port, ""); err != nil {
		return nil, err
	}
	d, err := l.startThingd(ch.setup)
	if err != nil {
		return nil, err
	}
	ch.setDaemon(d)

	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	perr := make(chan error, c.producers+1)
	for p := 0; p < c.producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ch.produce(ctx, p); err != nil {
				perr <- err
				cancel()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ch.runEvents(ctx, start); err != nil {
			perr <- err
			cancel()
		}
	}()
	wg.Wait()
	close(perr)
	if err := errors.Join(collect(perr)...); err != nil {
		return nil, err
	}
	produced := time.Since(start)
	l.logf("producers done after %v: %d chunks acknowledged, %d attempts failed; waiting for deliveries",
		produced.Round(time.Millisecond), ch.ledger.ackedChunks(), ch.ledger.failedAttempts())

	waitErr := ch.rec.waitAll(ctx, c.settle)
	delivered := time.Since(start)
	// Every message can have arrived while thingd still waits for a PUBACK (a dropped one is
	// given up on only after the overtake grace or the deadline): the queue must still empty.
	final, depthErr := daemonStatus{}, error(nil)
	final.Queue.Depth = -1
	if waitErr == nil {
		final, depthErr = ch.waitEmptyQueue(ctx, c.settle)
	}
	time.Sleep(2 * time.Second) // late duplicates still count
	res := ch.result(produced, delivered)
	res.finalDepth, res.deadLetters = final.Queue.Depth, final.DeadLetters.Count
	if ch.aws != nil {
		s := ch.aws.b.Stats()
		res.connects, res.pubacksDropped = s.Connects, int(s.PubacksDropped)
	}
	if waitErr != nil {
		return res, waitErr
	}
	if depthErr != nil {
		return res, depthErr
	}
	if err := ch.daemon().stopGracefully(); err != nil {
		return res, err
	}
	return res, nil
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

func (ch *chaos) daemon() *daemon {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.d
}

func (ch *chaos) setDaemon(d *daemon) {
	ch.mu.Lock()
	ch.d = d
	ch.mu.Unlock()
}

// waitEmptyQueue polls thingd's status until its queue is empty, for at most max, and
// returns the last status read.
func (ch *chaos) waitEmptyQueue(ctx context.Context, max time.Duration) (daemonStatus, error) {
	deadline := time.Now().Add(max)
	for {
		st, err := readStatus(ch.setup.socket)
		if err == nil && st.Queue.Depth == 0 {
			return st, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				st.Queue.Depth = -1
				return st, fmt.Errorf("read thingd's status: %w", err)
			}
			return st, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}
