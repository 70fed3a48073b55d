package main

import (
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// subscriber is the lab's client of the main broker: it subscribes at QoS 1 and hands each
// message with its arrival time to handle (called from one goroutine, in arrival order).
type subscriber struct {
	c mqtt.Client
}

type subOptions struct {
	addr     string
	clientID string
	// persistent asks for clean session false, so the broker keeps the subscription and
	// queues for it while the subscriber is away (broker restarts in the chaos run).
	persistent bool
	topic      string
	handle     func(topic string, payload []byte, at time.Time)
}

func (l *lab) subscribe(o subOptions) (*subscriber, error) {
	tlsCfg, err := l.pki.ClientTLSFor(l.pki.ClientCertFile, l.pki.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	subscribed := make(chan error, 1)
	onMsg := func(_ mqtt.Client, m mqtt.Message) { o.handle(m.Topic(), m.Payload(), time.Now()) }
	opts := mqtt.NewClientOptions().
		AddBroker("ssl://" + o.addr).
		SetClientID(o.clientID).
		SetTLSConfig(tlsCfg).
		SetCleanSession(!o.persistent).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(10 * time.Second).
		SetOnConnectHandler(func(c mqtt.Client) {
			// paho calls this on its own goroutine, so waiting for the SUBACK is fine.
			tok := c.Subscribe(o.topic, 1, onMsg)
			tok.Wait()
			select {
			case subscribed <- tok.Error():
			default:
			}
		})
	if o.persistent {
		// Messages the broker queued for a persistent session arrive before the
		// subscription is renewed: route them too.
		opts.SetDefaultPublishHandler(onMsg)
	}
	c := mqtt.NewClient(opts)
	c.Connect() // with ConnectRetry the token completes only once connected
	s := &subscriber{c: c}
	select {
	case err := <-subscribed:
		if err != nil {
			s.close()
			return nil, fmt.Errorf("subscribe to %q on %s: %w", o.topic, o.addr, err)
		}
	case <-time.After(20 * time.Second):
		s.close()
		return nil, fmt.Errorf("no SUBACK for %q from %s within 20s", o.topic, o.addr)
	}
	return s, nil
}

func (s *subscriber) close() {
	s.c.Disconnect(1000)
}
