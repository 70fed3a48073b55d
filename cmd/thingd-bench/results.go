package main

import "time"

// benchResults are every figure of one `thingd-bench bench` run.
type benchResults struct {
	config            benchConfig
	machine           machineInfo
	started, finished time.Time
	loadAfter         string
	sizes             []binarySize
	stray             int // messages on topics no measurement expected

	ready    []time.Duration
	readyBig time.Duration // with the large backlog queued

	ingest      []float64 // msg/s through thingd pub --lines, per run
	ingestIO    []ioCounters
	drainThingd []float64 // msg/s first to last arrival, per run
	drainPub    []float64
	pubWall     []float64 // mosquitto_pub's own wall-clock rate
	drainBridge []float64
	bridgeIO    []ioCounters // the bridge while it took ref messages
	dupsThingd  int
	dupsBridge  int
	dupsBig     int

	ingestCostSmall, ingestCostBig []time.Duration // per message
	drainCostSmall                 []time.Duration // per message, whole small backlog
	drainWindowsBig                []time.Duration // each window of `small` arrivals of the large drain

	// CPU time (user + system) per message
	cpuIngest, cpuDrain, cpuPub, cpuBridge []time.Duration

	bigIngest      float64
	bigIngestIO    ioCounters
	bigDrainThingd float64
	bigDrainBridge float64

	thingdIdleMaps []string // the largest mappings when idle

	thingdIdle, thingdBig, thingdBigStart, thingdDrain memory
	thingdDrainPeakRSS                                 int64
	bridgeIdle, bridgeBig, bridgeDrain                 memory
	bridgeDrainPeakRSS                                 int64
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
