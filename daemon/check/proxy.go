package check

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// proxyError is a failure at the HTTP proxy, with what to do about it.
type proxyError struct {
	msg string
	fix string
	err error
}

func (e *proxyError) Error() string { return e.msg }
func (e *proxyError) Unwrap() error { return e.err }

// dialProxy opens a tunnel to target through an HTTP CONNECT proxy, as the daemon's
// session does; TLS then runs end to end inside it.
func dialProxy(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), proxy *url.URL, target string) (net.Conn, error) {
	conn, err := dial(ctx, "tcp", proxy.Host)
	if err != nil {
		return nil, &proxyError{msg: fmt.Sprintf("HTTP proxy %s: %v", proxy.Host, err),
			fix: "check mqtt.proxy and that the proxy runs", err: err}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if u := proxy.User; u != nil {
		pw, _ := u.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)) + "\r\n"
	}
	br := bufio.NewReader(conn)
	var resp *http.Response
	if _, err = conn.Write([]byte(req + "\r\n")); err == nil {
		resp, err = http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	}
	if err != nil {
		conn.Close()
		return nil, &proxyError{msg: fmt.Sprintf("HTTP proxy %s, CONNECT %s: %v", proxy.Host, target, err),
			fix: "check that mqtt.proxy is an HTTP proxy that allows CONNECT", err: err}
	}
	// The body of a 200 answer to CONNECT is the tunnel itself: never read or close it.
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		fix := "ask the proxy's admin to allow CONNECT to " + target
		if resp.StatusCode == http.StatusProxyAuthRequired {
			fix = "the proxy wants credentials: mqtt.proxy = \"http://user:password@host:port\""
		}
		return nil, &proxyError{msg: fmt.Sprintf("HTTP proxy %s refused CONNECT %s: %s", proxy.Host, target, resp.Status), fix: fix}
	}
	_ = conn.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn first returns what the CONNECT reader had already read past the header.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
