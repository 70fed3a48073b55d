package testbed

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

var clientSeq atomic.Int64

// clientID returns a client ID no other test-side client of this process uses, since a broker
// disconnects the older of two sessions with the same ID.
func clientID(kind string) string {
	return fmt.Sprintf("testbed-%s-%d", kind, clientSeq.Add(1))
}

// ProbeMQTT opens a TLS connection to addr with cfg, sends an MQTT 3.1.1 CONNECT and waits for
// a CONNACK that accepts it. Under TLS 1.3 a server refuses a client certificate only after the
// client's handshake has finished, so a completed handshake alone proves nothing; a CONNACK does.
// Errors from the TLS layer are wrapped, so errors.As finds x509 validity errors. A nil cfg
// probes a plain MQTT listener.
func ProbeMQTT(addr string, cfg *tls.Config, timeout time.Duration) error {
	d := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	var err error
	if cfg == nil {
		conn, err = d.Dial("tcp", addr)
	} else if conn, err = tls.DialWithDialer(d, "tcp", addr, cfg); err != nil {
		err = fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("set deadline on %s: %w", addr, err)
	}
	if _, err := conn.Write(connectPacket(clientID("probe"))); err != nil {
		return fmt.Errorf("send MQTT CONNECT to %s: %w", addr, err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return fmt.Errorf("read MQTT CONNACK from %s: %w", addr, err)
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		return fmt.Errorf("%s answered CONNECT with % x, not a CONNACK", addr, ack)
	}
	if ack[3] != 0 {
		return &ConnackError{Addr: addr, Code: ack[3]}
	}
	_, _ = conn.Write([]byte{0xe0, 0}) // DISCONNECT, so the broker logs a clean goodbye
	return nil
}

// connectPacket is a minimal MQTT 3.1.1 CONNECT: clean session, keepalive 60s, no credentials
// (the broker takes the username from the client certificate).
func connectPacket(id string) []byte {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, byte(len(id) >> 8), byte(len(id))}
	body = append(body, id...)
	return append([]byte{0x10, byte(len(body))}, body...) // ids here keep it under 128 bytes
}

// ConnackError is a broker's refusal at the MQTT level (CONNACK return code), as opposed to a
// TLS failure: a test can tell "no client certificate" from "not authorised".
type ConnackError struct {
	Addr string
	Code byte
}

func (e *ConnackError) Error() string {
	return fmt.Sprintf("%s refused the MQTT connection with CONNACK return code %d", e.Addr, e.Code)
}
