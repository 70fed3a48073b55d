package check

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/beevik/ntp"

	"thingd/clock"
	"thingd/daemon/config"
	"thingd/internal/human"
)

// ntpSteps asks every server in clock.servers at once and reports each on its own line.
// A server that does not answer is a warning: the clock step decides whether the time
// the daemon would use is good enough.
func (r *runner) ntpSteps(ctx context.Context) []Result {
	servers := r.cfg.Clock.Servers
	if len(servers) == 0 {
		return []Result{warn("ntp", "clock.servers is empty: thingd relies on the system clock",
			`list NTP servers in clock.servers, e.g. ["time.aws.com", "pool.ntp.org"]`, nil)}
	}
	type answer struct {
		addr string
		resp *ntp.Response
		err  error
	}
	answers := make([]answer, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = answer{addr: s}
			srv, err := config.SplitServer(s)
			if err != nil {
				answers[i].err = err
				return
			}
			addr := net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port))
			answers[i].addr = addr
			qctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
			defer cancel()
			answers[i].resp, answers[i].err = r.o.QueryNTP(qctx, addr)
			if answers[i].err == nil {
				answers[i].err = clock.CheckResponse(answers[i].resp)
			}
		}()
	}
	wg.Wait()

	out := make([]Result, len(servers))
	var offsets []time.Duration
	for i, a := range answers {
		data := map[string]any{"server": servers[i], "addr": a.addr}
		if a.err != nil {
			out[i] = warn("ntp", fmt.Sprintf("%s: no usable answer: %v", servers[i], a.err),
				"let UDP traffic (NTP) out to "+a.addr+", or list a reachable server in clock.servers", data)
			continue
		}
		resp := a.resp
		offsets = append(offsets, resp.ClockOffset)
		data["offset_ms"], data["rtt_ms"], data["stratum"] = ms(resp.ClockOffset), ms(resp.RTT), resp.Stratum
		out[i] = pass("ntp", fmt.Sprintf("%s: offset %s, round trip %s, stratum %d",
			servers[i], human.Signed(resp.ClockOffset), human.Duration(resp.RTT), resp.Stratum), data)
	}
	if len(offsets) > 0 {
		r.ntpOK, r.offset = true, median(offsets)
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}
