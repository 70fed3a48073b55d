package provision

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/session"
)

// exchange is the claim connection: a short-lived session subscribed to the accepted and
// rejected topics of both APIs, used for one request at a time.
type exchange struct {
	s       *session.Session
	answers chan answer
	ready   chan struct{} // a token each time every subscription is in place
	stop    context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	lastErr error
}

type answer struct {
	topic   string
	payload []byte
}

type exchangeOptions struct {
	Endpoint  string
	Port      int
	ClientID  string
	Keepalive time.Duration
	Proxy     string
	TLS       func() (*tls.Config, error)
	Explain   func(error) error
	Logger    *zap.Logger
	Topics    []string // request topics; their /accepted and /rejected are subscribed to
}

func dial(o exchangeOptions) (*exchange, error) {
	x := &exchange{answers: make(chan answer, 8), ready: make(chan struct{}, 1), done: make(chan struct{})}
	var subs []session.Subscription
	for _, t := range o.Topics {
		for _, s := range []string{"/accepted", "/rejected"} {
			subs = append(subs, session.Subscription{Filter: t + s, QoS: 1, Handle: x.handle})
		}
	}
	s, err := session.New(session.Options{
		Endpoint: o.Endpoint, Port: o.Port, ClientID: o.ClientID, Keepalive: o.Keepalive,
		// Answers go to the connection that asked; nothing is worth keeping across connections.
		CleanSession: true, Proxy: o.Proxy, TLSConfig: o.TLS, ExplainErr: o.Explain,
		Logger: o.Logger, OnEvent: x.event,
		Backoff: session.BackoffOptions{Initial: time.Second, Max: 10 * time.Second},
	}, subs)
	if err != nil {
		return nil, err
	}
	x.s = s
	ctx, cancel := context.WithCancel(context.Background())
	x.stop = cancel
	go func() {
		defer close(x.done)
		_ = s.Run(ctx)
	}()
	return x, nil
}

// close disconnects and waits for the session to end.
func (x *exchange) close() {
	x.stop()
	<-x.done
}

func (x *exchange) handle(_ context.Context, topic string, payload []byte) error {
	select {
	case x.answers <- answer{topic, append([]byte(nil), payload...)}:
	default: // nobody asked for this many answers; the one awaited is already queued
	}
	return nil
}

func (x *exchange) event(e session.Event) {
	switch e.Kind {
	case session.EventSubscribed:
		select {
		case x.ready <- struct{}{}:
		default:
		}
	case session.EventConnectFailed, session.EventDisconnected:
		if e.Err != nil {
			x.mu.Lock()
			x.lastErr = e.Err
			x.mu.Unlock()
		}
	}
}

func (x *exchange) connErr() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lastErr
}

// call publishes payload to topic once the subscriptions are in place and returns the
// answer on topic/accepted or topic/rejected. After a reconnect (the answer of a clean
// session is lost with its connection) the request is sent again.
func (x *exchange) call(ctx context.Context, api, topic string, payload []byte) (answer, error) {
	sent := false
	x.markReady()
	for {
		select {
		case <-ctx.Done():
			return answer{}, x.timeout(api, sent)
		case <-x.ready:
			d, err := x.s.Publish(ctx, topic, 1, payload)
			if err != nil {
				continue // not connected after all; the next ready follows the reconnect
			}
			sent = true
			_ = d // the answer, not the PUBACK, is what counts
		case a := <-x.answers:
			if a.topic == topic+"/accepted" || a.topic == topic+"/rejected" {
				return a, nil
			}
		}
	}
}

// markReady re-arms ready for the next call on the same connection.
func (x *exchange) markReady() {
	if x.s.State().Subscribed {
		select {
		case x.ready <- struct{}{}:
		default:
		}
	}
}

// TimeoutError is an exchange with AWS IoT that got no answer in time.
type TimeoutError struct {
	API     string
	Sent    bool  // the request went out (else the claim connection never came up)
	ConnErr error // the last connection failure, if any
}

func (e *TimeoutError) Error() string {
	if !e.Sent {
		msg := fmt.Sprintf("provisioning: could not connect with the claim certificate to ask for %s", e.API)
		if e.ConnErr != nil {
			msg += ": " + e.ConnErr.Error()
		}
		return msg + "; check mqtt.endpoint, the claim certificate and key, and that the claim policy allows iot:Connect for provisioning.client_id"
	}
	return fmt.Sprintf("provisioning: AWS IoT did not answer %s in time; check that the claim policy allows iot:Subscribe and iot:Receive on the accepted and rejected topics, and that the template's pre-provisioning hook answers", e.API)
}

func (x *exchange) timeout(api string, sent bool) error {
	return &TimeoutError{API: api, Sent: sent, ConnErr: x.connErr()}
}
