package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// The NTP answer's fixed fields: a stratum-2 server a few milliseconds from its reference, so
// that a client's validity checks (beevik/ntp Validate, thingd's root-distance bound) accept it.
const (
	ntpStratum   = 2
	ntpRootDelay = 655 // Q16.16 seconds: 10 ms
	ntpRootDisp  = 655 // Q16.16 seconds: 10 ms
	ntpRefAge    = 16 * time.Second
	ntpEpoch     = 2208988800 // seconds from 1900 (NTP) to 1970 (Unix)
	ntpPacketLen = 48
)

// ntpPrecision is about a microsecond, as log2 seconds (-20) in two's complement.
var ntpPrecision int8 = -20

// ntpRefID names the upstream of a stratum-2 server: its IPv4 address, here loopback.
var ntpRefID = [4]byte{127, 0, 0, 1}

// ntpServer answers NTP client requests on a loopback UDP port with this machine's clock. It
// never sets any clock: it only reads the time.
type ntpServer struct {
	conn    *net.UDPConn
	now     func() time.Time
	onQuery func(from net.Addr)
	wg      sync.WaitGroup
}

// startNTP listens on addr ("127.0.0.1:0" for a free port) and serves until Close.
func startNTP(addr string, onQuery func(from net.Addr)) (*ntpServer, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("ntp: address %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("ntp: listen on %s: %w", addr, err)
	}
	if onQuery == nil {
		onQuery = func(net.Addr) {}
	}
	s := &ntpServer{conn: conn, now: time.Now, onQuery: onQuery}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is "127.0.0.1:port", as thingd's clock.servers takes it.
func (s *ntpServer) Addr() string { return s.conn.LocalAddr().String() }

// Close stops serving and returns once the serving goroutine has ended.
func (s *ntpServer) Close() error {
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

func (s *ntpServer) serve() {
	defer s.wg.Done()
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		recv := s.now()
		resp, ok := ntpAnswer(buf[:n], recv, s.now)
		if !ok {
			continue
		}
		if _, err := s.conn.WriteTo(resp, from); err == nil {
			s.onQuery(from)
		}
	}
}

// ntpAnswer builds the mode-4 (server) reply to a mode-3 (client) request received at recv;
// anything else is not answered. The transmit time is read last, just before sending.
func ntpAnswer(req []byte, recv time.Time, now func() time.Time) ([]byte, bool) {
	if len(req) < ntpPacketLen {
		return nil, false
	}
	version, mode := (req[0]>>3)&7, req[0]&7
	if mode != 3 || version < 1 || version > 4 {
		return nil, false
	}
	resp := make([]byte, ntpPacketLen)
	resp[0] = version<<3 | 4 // leap indicator 0: no warning, in sync
	resp[1] = ntpStratum
	resp[2] = req[2] // poll: echo the client's
	resp[3] = byte(ntpPrecision)
	binary.BigEndian.PutUint32(resp[4:], ntpRootDelay)
	binary.BigEndian.PutUint32(resp[8:], ntpRootDisp)
	copy(resp[12:16], ntpRefID[:])
	binary.BigEndian.PutUint64(resp[16:], ntpTimestamp(recv.Add(-ntpRefAge)))
	copy(resp[24:32], req[40:48]) // origin: the client's transmit time, which it checks
	binary.BigEndian.PutUint64(resp[32:], ntpTimestamp(recv))
	binary.BigEndian.PutUint64(resp[40:], ntpTimestamp(now()))
	return resp, true
}

// ntpTimestamp is t as NTP's 32.32 fixed-point seconds since 1900 (era wrap included).
func ntpTimestamp(t time.Time) uint64 {
	secs := uint64(t.Unix()+ntpEpoch) & 0xffffffff
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second)
	return secs<<32 | frac
}
