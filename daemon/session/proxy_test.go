package session

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeProxy accepts one connection, records the request head, answers with reply and then
// echoes what it gets (standing in for the tunnelled broker).
func fakeProxy(t *testing.T, reply string) (addr string, head <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	heads := make(chan string, 1)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var h strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			h.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		heads <- h.String()
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
		_, _ = io.Copy(c, br)
	}()
	return ln.Addr().String(), heads
}

func TestDialProxyTunnel(t *testing.T) {
	// The extra bytes after the header arrive in the same segment: they must not be lost.
	addr, heads := fakeProxy(t, "HTTP/1.1 200 Connection established\r\nProxy-Agent: fake\r\n\r\nearly")
	u, _ := url.Parse("http://dev:s3cret@" + addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := DialProxy(ctx, (&net.Dialer{}).DialContext, u, "broker.example:8883")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := <-heads
	for _, want := range []string{"CONNECT broker.example:8883 HTTP/1.1\r\n", "Host: broker.example:8883\r\n",
		"Proxy-Authorization: Basic ZGV2OnMzY3JldA==\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("request head %q lacks %q", head, want)
		}
	}
	if _, err := io.WriteString(conn, "ping"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("earlyping"))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "earlyping" {
		t.Errorf("through the tunnel: %q, want %q", got, "earlyping")
	}
}

func TestDialProxyRefused(t *testing.T) {
	tests := []struct {
		reply, want string
	}{
		{"HTTP/1.1 403 Forbidden\r\n\r\n", "allow CONNECT to port 8883"},
		{"HTTP/1.0 407 Proxy Authentication Required\r\n\r\n", "http://user:password@host:port"},
		{"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", "502 Bad Gateway"},
		{"SSH-2.0-OpenSSH\r\n\r\n", "SSH-2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			addr, _ := fakeProxy(t, tt.reply)
			u, _ := url.Parse("http://" + addr)
			_, err := DialProxy(context.Background(), (&net.Dialer{}).DialContext, u, "broker.example:8883")
			var pe *ProxyError
			if !errorsAs(err, &pe) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), addr) {
				t.Fatalf("error %v: want a *ProxyError naming %s and containing %q", err, addr, tt.want)
			}
		})
	}
}

// A proxy that accepts but never answers is bounded by the context.
func TestDialProxyTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = DialProxy(ctx, (&net.Dialer{}).DialContext, u, "broker.example:8883")
	if err == nil || !strings.Contains(err.Error(), "no answer to CONNECT") {
		t.Fatalf("error %v: want no answer to CONNECT", err)
	}
	(<-accepted).Close()
}

func TestStatusCode(t *testing.T) {
	for line, want := range map[string]int{
		"HTTP/1.1 200 Connection established": 200,
		"HTTP/1.0 200 OK":                     200,
		"HTTP/1.1 407":                        407,
		"HTTP/2 200":                          0,
		"garbage":                             0,
		"HTTP/1.1 2x0 OK":                     0,
	} {
		if got := statusCode(line); got != want {
			t.Errorf("statusCode(%q) = %d, want %d", line, got, want)
		}
	}
}
