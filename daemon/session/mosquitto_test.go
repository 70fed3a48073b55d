package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"thingd/internal/testbed"
)

// Against a real mosquitto with mutual TLS: our publish reaches another client and comes
// back to our own subscription, and a message from another client reaches our handler.
func TestMosquittoRoundTrip(t *testing.T) {
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	rec := m.Subscribe(t, "dt/#")
	var ev eventLog
	var c collector
	s, err := New(testOptions(t, m.PKI, m.Port, &ev), []Subscription{
		{Filter: "dt/device/echo", QoS: 1, Handle: c.handle},
		{Filter: "cmd/device/#", QoS: 1, Handle: c.handle},
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
	d, err := s.Publish(context.Background(), "dt/device/echo", 1, []byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(context.Background()); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	if msgs := rec.Wait(t, 1, 20*time.Second); string(msgs[0].Payload) != "ping" || msgs[0].Topic != "dt/device/echo" {
		t.Errorf("test-side subscriber got %+v", msgs[0])
	}
	m.Publish(t, "cmd/device/reboot", []byte("now"), 1)
	waitFor(t, "the echo and the command", func() bool { return len(c.got()) == 2 })
	got := strings.Join(c.got(), "|")
	if !strings.Contains(got, "dt/device/echo ping") || !strings.Contains(got, "cmd/device/reboot now") {
		t.Errorf("handler got %q", got)
	}
}

// After the broker restarts under a connected session, the session reconnects on its own
// and the subscription keeps delivering: re-made when the broker lost the session
// (persistence off), kept by the broker when it saved it (persistence on).
func TestMosquittoRestart(t *testing.T) {
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistence=%v", persist), func(t *testing.T) {
			m := testbed.StartMosquitto(t, testbed.MosquittoOptions{Persistence: persist})
			var ev eventLog
			var c collector
			s, err := New(testOptions(t, m.PKI, m.Port, &ev), []Subscription{{Filter: "cmd/#", QoS: 1, Handle: c.handle}})
			if err != nil {
				t.Fatal(err)
			}
			start(t, s)
			waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
			m.Publish(t, "cmd/before", []byte("1"), 1)
			waitFor(t, "the message before the restart", func() bool { return len(c.got()) == 1 })

			m.Stop(t)
			waitFor(t, "the session to notice", func() bool { return !s.Connected() })
			if _, err := s.Publish(context.Background(), "dt/x", 1, nil); !errors.Is(err, ErrNotConnected) {
				t.Errorf("Publish while the broker is down: %v, want ErrNotConnected", err)
			}
			m.Start(t)
			waitFor(t, "the reconnect", func() bool { st := s.State(); return st.Reconnects >= 1 && st.Subscribed })
			if st := s.State(); st.SessionPresent != persist {
				t.Errorf("session present %v after a restart with persistence %v", st.SessionPresent, persist)
			}
			m.Publish(t, "cmd/after", []byte("2"), 1)
			// Not a count: "cmd/before" may come again after the restart when the broker stopped
			// before our PUBACK reached it (at least once).
			waitFor(t, "the message after the restart", func() bool { return slices.Contains(c.got(), "cmd/after 2") })
		})
	}
}

// tinyproxy runs tinyproxy in the foreground on a free loopback port, allowing CONNECT only
// to allowPort, and returns its port and log file.
func tinyproxy(t *testing.T, allowPort int) (port int, logFile string) {
	t.Helper()
	bin := testbed.Require(t, "tinyproxy", "tinyproxy")
	dir := t.TempDir()
	port = testbed.FreeTCPPort(t)
	logFile = filepath.Join(dir, "tinyproxy.log")
	conf := filepath.Join(dir, "tinyproxy.conf")
	text := fmt.Sprintf("Port %d\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort %d\nTimeout 60\nMaxClients 8\n"+
		"LogFile %q\nLogLevel Info\nPidFile %q\n", port, allowPort, logFile, filepath.Join(dir, "tinyproxy.pid"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", conf)
	out, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tinyproxy: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID; ours
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			e, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			t.Logf("tinyproxy log:\n%s\n%s", b, e)
		}
	})
	waitFor(t, "tinyproxy to listen", func() bool {
		select {
		case <-exited:
			t.Fatalf("tinyproxy -d -c %s exited during start-up", conf)
		default:
		}
		return dialOK(fmt.Sprintf("127.0.0.1:%d", port))
	})
	return port, logFile
}

// Through a real HTTP CONNECT proxy (tinyproxy) to mosquitto: the round trip works and the
// proxy's log shows the tunnel; a proxy that refuses the port gives a *ProxyError.
func TestThroughTinyproxy(t *testing.T) {
	m := testbed.StartMosquitto(t, testbed.MosquittoOptions{})
	port, logFile := tinyproxy(t, m.Port)
	var ev eventLog
	var c collector
	o := testOptions(t, m.PKI, m.Port, &ev)
	o.Proxy = fmt.Sprintf("http://127.0.0.1:%d", port)
	s, err := New(o, []Subscription{{Filter: "dt/device/echo", QoS: 1, Handle: c.handle}})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, s)
	waitFor(t, "subscribed", func() bool { return s.State().Subscribed })
	d, err := s.Publish(context.Background(), "dt/device/echo", 1, []byte("via proxy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the echo", func() bool { return len(c.got()) == 1 })
	stop()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("CONNECT 127.0.0.1:%d", m.Port); !strings.Contains(string(b), want) {
		t.Errorf("tinyproxy log lacks %q: the session did not go through the proxy\n%s", want, b)
	}

	t.Run("refused port", func(t *testing.T) {
		port, _ := tinyproxy(t, m.Port+1) // CONNECT allowed to another port only
		var ev eventLog
		o := testOptions(t, m.PKI, m.Port, &ev)
		o.Proxy = fmt.Sprintf("http://127.0.0.1:%d", port)
		s, err := New(o, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.sleep = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
		if err := s.Run(ctx); err != nil {
			t.Fatal(err)
		}
		evs := ev.all()
		var pe *ProxyError
		if len(evs) != 1 || !errors.As(evs[0].Err, &pe) || !strings.Contains(evs[0].Err.Error(), "403") {
			t.Fatalf("events %+v: want one failed attempt with a *ProxyError saying 403", evs)
		}
	})
}
