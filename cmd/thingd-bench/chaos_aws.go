package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"thingd/internal/testbed/awsiot"
)

const eventDeny = "denied publish"

// awsWorld is the chaos run's broker when --aws is on: the AWS-IoT-like broker with an IoT
// policy that allows only chaos/#, a PUBACK dropped every dropEvery messages (thingd must
// resend; the broker delivers the message each time), and an in-process subscriber.
type awsWorld struct {
	b    *awsiot.Broker
	stop chan struct{}
	wg   sync.WaitGroup
}

// startAWS starts the broker and feeds what reaches chaos/# into handle. Quotas are off:
// the run publishes far above AWS's 100/s per connection on purpose.
func (ch *chaos) startAWS(dropEvery uint64, handle func(topic string, payload []byte, at time.Time)) (*awsWorld, error) {
	srv, err := ch.l.pki.ServerTLS()
	if err != nil {
		return nil, err
	}
	o := awsiot.Options{ServerTLS: srv, NoLimits: true, Policy: &awsiot.Policy{Publish: []string{"chaos/#"}}}
	if dropEvery > 0 {
		o.Puback = awsiot.DropEvery(dropEvery)
	}
	b, err := awsiot.Start(o)
	if err != nil {
		return nil, err
	}
	rec, err := b.Subscribe("chaos/#")
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	w := &awsWorld{b: b, stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		seen := 0
		for {
			msgs := rec.Messages()
			now := time.Now()
			for _, m := range msgs[seen:] {
				handle(m.Topic, m.Payload, now)
			}
			seen = len(msgs)
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w, nil
}

func (w *awsWorld) close() {
	close(w.stop)
	w.wg.Wait()
	_ = w.b.Close()
}

// deny hands thingd one message the policy forbids. AWS IoT closes the connection on it
// without a PUBACK; thingd must set it aside (dead letter) and keep delivering the rest,
// which the run's zero-loss check then proves.
func (ch *chaos) deny(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := ch.l.pub(pctx, ch.setup.socket, "denied/chaos", bytes.NewBufferString("outside the IoT policy\n"))
	if err != nil {
		return fmt.Errorf("queue the denied message: %w", err)
	}
	return nil
}

// awsSummary is the broker's side of the faults, for the log.
func (w *awsWorld) awsSummary() string {
	s := w.b.Stats()
	return fmt.Sprintf("AWS-like broker: %d connects, %d publishes accepted, %d PUBACKs dropped, denied publishes %q, disconnects %v",
		s.Connects, s.Published, s.PubacksDropped, s.DeniedPublishes, s.Disconnects)
}
