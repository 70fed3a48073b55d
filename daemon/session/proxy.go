package session

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// DialFunc opens a network connection, like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DialProxy opens a TCP tunnel to target through an HTTP CONNECT proxy. TLS then runs end to
// end inside the tunnel, so the proxy never sees the device's key or the MQTT traffic.
// Failures are *ProxyError; thingd check uses it too, so both judge a proxy alike.
func DialProxy(ctx context.Context, dial DialFunc, proxy *url.URL, target string) (net.Conn, error) {
	status := 0
	perr := func(err error) error { return &ProxyError{Proxy: proxy.Host, Target: target, Status: status, Err: err} }
	conn, err := dial(ctx, "tcp", proxy.Host)
	if err != nil {
		return nil, perr(err)
	}
	// The CONNECT exchange follows ctx: its deadline, and cancellation through a past deadline.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req strings.Builder
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if u := proxy.User; u != nil {
		pw, _ := u.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pw))
		fmt.Fprintf(&req, "Proxy-Authorization: Basic %s\r\n", cred)
	}
	req.WriteString("\r\n")
	if _, err := conn.Write([]byte(req.String())); err != nil {
		conn.Close()
		return nil, perr(err)
	}

	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	statusLine, err := tp.ReadLine()
	if err != nil {
		conn.Close()
		return nil, perr(fmt.Errorf("no answer to CONNECT: %w", err))
	}
	if _, err := tp.ReadMIMEHeader(); err != nil {
		conn.Close()
		return nil, perr(fmt.Errorf("bad answer to CONNECT: %w", err))
	}
	if status = statusCode(statusLine); status != 200 {
		conn.Close()
		hint := ""
		switch status {
		case 403:
			hint = " (the proxy forbids this target: allow CONNECT to port " + portOf(target) + ")"
		case 407:
			hint = " (the proxy wants credentials: use http://user:password@host:port)"
		}
		return nil, perr(fmt.Errorf("proxy answered %q%s", statusLine, hint))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, perr(err)
	}
	if br.Buffered() > 0 {
		// The proxy may already have forwarded the first bytes of the broker's TLS reply.
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// statusCode extracts the code from an HTTP status line ("HTTP/1.1 200 Connection established").
func statusCode(line string) int {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(rest) < 3 {
		return 0
	}
	code := 0
	for _, c := range rest[:3] {
		if c < '0' || c > '9' {
			return 0
		}
		code = code*10 + int(c-'0')
	}
	return code
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// bufferedConn reads what the CONNECT reader had already buffered before the socket.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
