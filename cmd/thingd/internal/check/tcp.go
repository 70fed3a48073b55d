package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"thingd/daemon/session"
	"thingd/internal/human"
)

func (r *runner) tcpStep(ctx context.Context) Result {
	if !r.dnsOK {
		return skip("tcp", "the host name did not resolve")
	}
	data := map[string]any{"addr": r.addr}
	start := time.Now()
	conn, err := r.connect(ctx)
	if err != nil {
		return fail("tcp", fmt.Sprintf("connect to %s: %v", r.addr, err), r.tcpFix(err), data)
	}
	defer conn.Close()
	took := time.Since(start)
	r.tcpOK = true
	data["remote"], data["connect_ms"] = conn.RemoteAddr().String(), ms(took)
	via := fmt.Sprintf("(%s)", conn.RemoteAddr())
	if r.cfg.MQTT.Proxy != "" {
		via = "through proxy " + redact(r.cfg.MQTT.Proxy)
		data["proxy"] = redact(r.cfg.MQTT.Proxy)
	}
	return pass("tcp", fmt.Sprintf("connected to %s %s in %s", r.addr, via, human.Duration(took)), data)
}

func (r *runner) tcpFix(err error) string {
	port := strconv.Itoa(r.cfg.MQTT.Port)
	var pe *session.ProxyError
	switch {
	case errors.As(err, &pe) && pe.Status == 407:
		return "the proxy wants credentials: mqtt.proxy = \"http://user:password@host:port\""
	case errors.As(err, &pe) && pe.Status != 0:
		return "ask the proxy's admin to allow CONNECT to " + pe.Target
	case errors.As(err, &pe):
		return "check mqtt.proxy and that the proxy runs and allows CONNECT"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there: check mqtt.endpoint and mqtt.port (AWS IoT: 8883, or 443), and that the broker runs"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "no answer: a firewall may drop outbound TCP port " + port + "; AWS IoT also serves MQTT on port 443 (mqtt.port = 443)"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "no route: check the network connection and the default route (ip route)"
	}
	return "check mqtt.endpoint, mqtt.port and the network"
}

// connect opens a TCP connection to the broker, through mqtt.proxy when set, bounded by
// the step timeout.
func (r *runner) connect(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	if p := r.cfg.MQTT.Proxy; p != "" {
		u, err := url.Parse(p)
		if err != nil {
			return nil, err
		}
		return session.DialProxy(ctx, r.o.Dial, u, r.addr)
	}
	return r.o.Dial(ctx, "tcp", r.addr)
}
