package main

import (
	"cmp"
	"slices"
	"time"
)

// benchResults are every figure of one `thingd-bench bench` run.
type benchResults struct {
	config            benchConfig
	machine           machineInfo
	started, finished time.Time
	loadAfter         string
	sizes             []binarySize
	stray             int // messages on topics no measurement expected

	ready []time.Duration

	ingest      []float64 // msg/s through thingd pub --lines, per run
	ingestIO    []ioCounters
	drainThingd []float64 // msg/s first to last arrival, per run
	drainPub    []float64
	pubWall     []float64 // mosquitto_pub's own wall-clock rate
	drainBridge []float64
	bridgeIO    []ioCounters // the bridge while it took ref messages
	singleIO    ioCounters   // one message per pub
	dupsThingd  int
	dupsBridge  int

	drainCostSmall []time.Duration // per message, whole small backlog

	// CPU time (user + system) per message
	cpuIngest, cpuDrain, cpuPub, cpuBridge []time.Duration

	big       []bigRun
	bridgeBig []bridgeBigRun

	thingdIdleMaps []string // the largest mappings when idle

	thingdIdle memory
}

// medians over the large-backlog runs.

func (r *benchResults) bigMemory(f func(bigRun) memory) memory {
	var ms []memory
	for _, x := range r.big {
		ms = append(ms, f(x))
	}
	return medianMemory(ms)
}

func (r *benchResults) bridgeMemory(f func(bridgeBigRun) memory) memory {
	var ms []memory
	for _, x := range r.bridgeBig {
		ms = append(ms, f(x))
	}
	return medianMemory(ms)
}

func (r *benchResults) bigFloat(f func(bigRun) float64) float64 {
	var xs []float64
	for _, x := range r.big {
		xs = append(xs, f(x))
	}
	return median(xs)
}

func (r *benchResults) bridgeFloat(f func(bridgeBigRun) float64) float64 {
	var xs []float64
	for _, x := range r.bridgeBig {
		xs = append(xs, f(x))
	}
	return median(xs)
}

// bigDurations pools a list of durations from every large-backlog run.
func (r *benchResults) bigDurations(f func(bigRun) []time.Duration) []time.Duration {
	var out []time.Duration
	for _, x := range r.big {
		out = append(out, f(x)...)
	}
	return out
}

// medianMemory is the sample with the median RSS, so its parts stay consistent.
func medianMemory(ms []memory) memory {
	if len(ms) == 0 {
		return memory{}
	}
	s := slices.Clone(ms)
	slices.SortFunc(s, func(a, b memory) int { return cmp.Compare(a.RSS, b.RSS) })
	return s[len(s)/2]
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func perMessage(io []ioCounters, n int, f func(ioCounters) int64) []float64 {
	var out []float64
	for _, c := range io {
		out = append(out, float64(f(c))/float64(n))
	}
	return out
}
