package clock

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/ntp"
)

const (
	ntpPort      = 123
	queryTimeout = 5 * time.Second
)

// server is one configured NTP server: name as the user wrote it, addr as "host:port".
type server struct {
	name string
	addr string
}

// parseServer accepts "host", "host:port", a bare IPv6 address or "[v6]:port".
func parseServer(s string) (server, error) {
	name := strings.TrimSpace(s)
	host, port := name, ntpPort
	switch {
	case name == "":
		return server{}, fmt.Errorf("clock server %q is empty: give a host name or address such as \"time.aws.com\"", s)
	case !strings.Contains(name, ":"):
	case isIP(name):
	case strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]"):
		host = name[1 : len(name)-1]
	default:
		h, p, err := net.SplitHostPort(name)
		if err != nil {
			return server{}, fmt.Errorf("clock server %q: %w; write \"host\", \"host:port\" or \"[ipv6]:port\"", s, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return server{}, fmt.Errorf("clock server %q: port %q must be a number from 1 to 65535", s, p)
		}
		host, port = h, n
	}
	if host == "" {
		return server{}, fmt.Errorf("clock server %q has no host", s)
	}
	return server{name: name, addr: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// QueryNTP asks one NTP server at "host:port" (thingd check uses it too). The port travels in addr (QueryOptions.Port is deprecated in
// beevik/ntp v1.6.0); the socket is closed when ctx ends so shutdown does not wait for a timeout.
func QueryNTP(ctx context.Context, addr string) (*ntp.Response, error) {
	timeout := queryTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	var stop func() bool
	opt := ntp.QueryOptions{
		Timeout: timeout,
		Dialer: func(_, raddr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "udp", raddr)
			if err != nil {
				return nil, err
			}
			stop = context.AfterFunc(ctx, func() { conn.Close() })
			return conn, nil
		},
	}
	resp, err := ntp.QueryWithOptions(addr, opt)
	if stop != nil {
		stop()
	}
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return resp, err
}
