package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// quiesce is how long a clean disconnect may take to send DISCONNECT and stop paho's
// goroutines. paho's Disconnect returns as soon as they are done, so this is only an upper
// bound for a connection that is already broken.
const quiesce = 2 * time.Second

// connectGrace is added to ConnectTimeout when waiting for the connect token: paho enforces
// ConnectTimeout itself, this only guards against it not doing so.
const connectGrace = 5 * time.Second

// Session is one MQTT client identity kept connected by Run.
type Session struct {
	o       Options
	subs    []Subscription
	log     *zap.Logger
	store   *trackingStore
	backoff *Backoff
	flap    *flapDetector
	failLog failureLog

	// Seams for tests.
	dial  func(ctx context.Context) (net.Conn, error)
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time

	started   atomic.Bool
	connected atomic.Bool
	attempts  atomic.Int64
	dropped   atomic.Int64
	handled   atomic.Int64 // inbound messages handed to the subscriptions

	inbox    *inboundQueue  // inbound messages for the worker, in arrival order
	stopping chan struct{}  // closed when Run winds down
	bg       sync.WaitGroup // worker and QoS0 watchers

	mu             sync.Mutex // guards the fields below
	runCtx         context.Context
	state          State
	connects       int
	subscribedOnce bool
	dialConn       net.Conn // connection of the attempt in progress, closed to abort it
	dialErr        error    // why the attempt in progress could not open its connection

	pubMu  sync.Mutex  // guards the two fields below, never held across paho's Publish
	client mqtt.Client // the current connection's client; nil before the first
	closed bool

	dropLogMu sync.Mutex
	dropLogAt time.Time // last "QoS0 dropped" log line

	hmu      sync.Mutex // counts paho's calls into onMessage
	hcond    *sync.Cond
	handlers int
	hclosed  bool
}

// New checks the options and prepares a Session; nothing touches the network before Run.
func New(o Options, subs []Subscription) (*Session, error) {
	o = o.withDefaults()
	if err := o.validate(subs); err != nil {
		return nil, err
	}
	s := &Session{
		o:        o,
		subs:     slices.Clone(subs),
		log:      o.Logger.With(zap.String("component", "mqtt")),
		store:    newTrackingStore(),
		backoff:  NewBackoff(o.Backoff),
		flap:     newFlapDetector(o.Backoff.ResetAfter),
		sleep:    sleepCtx,
		now:      time.Now,
		inbox:    newInboundQueue(),
		stopping: make(chan struct{}),
		runCtx:   context.Background(),
	}
	s.hcond = sync.NewCond(&s.hmu)
	s.dial = newDialer(o).dial
	return s, nil
}

// pahoOptions configures the client of one connection attempt. Each attempt gets a new
// paho client (paho's own docs warn against reusing one after a connection ended, and its
// status lags the connect token of a failed attempt), while the store, and with it every
// unacknowledged publish, carries over from one client to the next. lost receives the
// reason when the established connection ends.
func (s *Session) pahoOptions(lost chan<- error) *mqtt.ClientOptions {
	o := s.o
	return mqtt.NewClientOptions().
		AddBroker("tls://" + net.JoinHostPort(o.Endpoint, itoa(o.Port))).
		SetClientID(o.ClientID).
		SetProtocolVersion(4). // 3.1.1, never the silent fallback to 3.1
		SetKeepAlive(o.Keepalive).
		SetCleanSession(o.CleanSession).
		SetAutoReconnect(false). // Run is the reconnect loop
		SetConnectRetry(false).
		SetResumeSubs(false).     // subscriptions are re-made by us, after CONNACK says whether needed
		SetOrderMatters(true).    // arrival order; onMessage never blocks paho's router
		SetAutoAckDisabled(true). // QoS1 is acknowledged after our handler accepted it
		SetStore(s.store).
		SetMaxResumePubInFlight(0). // the daemon's window (<= 100) already bounds resends
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.ConnectTimeout).
		SetCustomOpenConnectionFn(s.openConnFn).
		SetDefaultPublishHandler(s.onMessage).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			if err == nil {
				err = errors.New("connection closed")
			}
			lost <- err // buffered, and paho calls this at most once per client
		})
}

// Run connects, keeps the connection up and reconnects on the backoff schedule until ctx
// ends; then it disconnects cleanly, fails pending deliveries with ErrClosed and returns nil.
// It may be called once.
func (s *Session) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("mqtt session: Run may be called only once")
	}
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	s.bg.Add(1)
	go s.worker(ctx)
	defer s.shutdown()

	for n := 0; ; n++ {
		if n > 0 {
			if s.sleep(ctx, s.backoff.Next()) != nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		c, err := s.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.connectFailed(err)
			continue
		}
		deliveredBefore := s.store.acked.Load() + s.handled.Load()
		lasted, lost := s.serve(ctx, c)
		if !lost {
			return nil
		}
		s.store.dropOnce(ErrConnectionLost)
		s.backoff.ConnectionEnded(lasted, s.store.acked.Load()+s.handled.Load() > deliveredBefore)
		if s.flap.dropped(lasted) {
			s.log.Warn("the broker keeps closing the connection right after accepting it",
				zap.String("client_id", s.o.ClientID),
				zap.String("likely_causes", "another device or program is connected with the same client ID "+
					"(AWS IoT keeps only the newest connection per client ID), or the IoT policy denies "+
					"this client ID or a topic it publishes or subscribes to (AWS IoT then drops the connection)"),
				zap.String("fix", "give every device its own client ID; check the policy's iot:Connect, "+
					"iot:Publish, iot:Subscribe and iot:Receive resources; AWS IoT logs in CloudWatch show the reason"))
		}
	}
}

// connection is one established MQTT connection.
type connection struct {
	client  mqtt.Client
	lost    <-chan error
	present bool // the CONNACK's session present flag
	resent  int  // unacknowledged publishes paho sent again on this connection
}

// connect makes one attempt with a new paho client and waits for its CONNACK.
func (s *Session) connect(ctx context.Context) (*connection, error) {
	s.mu.Lock()
	s.dialConn, s.dialErr = nil, nil
	s.mu.Unlock()
	lost := make(chan error, 1)
	resent := s.store.inFlight()
	client := mqtt.NewClient(s.pahoOptions(lost))
	tok := client.Connect()
	ok, err := waitToken(ctx, tok, s.o.ConnectTimeout+connectGrace)
	if !ok {
		// Closing the socket makes paho's blocked read fail, so the token completes soon.
		s.abortAttempt()
		<-tok.Done()
		err = tok.Error()
		switch {
		case err == nil && ctx.Err() != nil:
			// It got through after all, but we are stopping.
			client.Disconnect(uint(quiesce.Milliseconds()))
			return nil, ctx.Err()
		case err != nil && ctx.Err() == nil:
			err = fmt.Errorf("no CONNACK within %v: %w", s.o.ConnectTimeout+connectGrace, err)
		}
	}
	s.mu.Lock()
	s.dialConn = nil // from now on it is paho's connection, never ours to close
	dialErr := s.dialErr
	s.mu.Unlock()
	if err != nil {
		return nil, s.describeConnectError(err, dialErr)
	}
	c := &connection{client: client, lost: lost, resent: resent}
	if ct, ok := tok.(*mqtt.ConnectToken); ok {
		c.present = ct.SessionPresent()
	}
	return c, nil
}

// serve runs while a connection is up: it makes the subscriptions and waits for the end.
// lost is false when ctx ended and we disconnected ourselves.
func (s *Session) serve(ctx context.Context, c *connection) (lasted time.Duration, lost bool) {
	start := s.now()
	s.mu.Lock()
	if s.connects > 0 {
		s.state.Reconnects++
	}
	s.connects++
	s.state.Connected, s.state.Since, s.state.SessionPresent, s.state.Subscribed = true, start, c.present, false
	reconnects := s.state.Reconnects
	needSubs := s.o.CleanSession || !c.present || !s.subscribedOnce
	s.mu.Unlock()
	s.pubMu.Lock()
	s.client = c.client
	s.connected.Store(true)
	s.pubMu.Unlock()
	s.failLog.reset()
	s.log.Info("connected",
		zap.String("broker", s.addr()), zap.String("client_id", s.o.ClientID),
		zap.Bool("session_present", c.present), zap.Int("reconnects", reconnects),
		zap.Int("resent_unacknowledged", c.resent))
	s.emit(Event{Kind: EventConnected, At: start, SessionPresent: c.present, Reconnects: reconnects})

	connCtx, cancel := context.WithCancel(ctx)
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		if needSubs && !s.subscribeAll(connCtx, c.client) {
			return
		}
		s.mu.Lock()
		s.subscribedOnce, s.state.Subscribed = true, true
		s.mu.Unlock()
		s.emit(Event{Kind: EventSubscribed, At: s.now()})
	}()

	var why error
	select {
	case why = <-c.lost:
		lost = true
	case <-ctx.Done():
	}
	cancel()
	<-subDone
	s.connected.Store(false)
	if !lost {
		c.client.Disconnect(uint(quiesce.Milliseconds()))
	}
	end := s.now()
	lasted = end.Sub(start)
	s.mu.Lock()
	s.state.Connected, s.state.Since, s.state.Subscribed = false, end, false
	if lost {
		s.state.LastError = "connection lost: " + errString(why)
	}
	s.mu.Unlock()
	if lost {
		s.log.Warn("connection lost", zap.Error(why), zap.Duration("lasted", lasted),
			zap.Int("in_flight", s.store.inFlight()))
	} else {
		s.log.Info("disconnected", zap.Duration("lasted", lasted))
	}
	s.emit(Event{Kind: EventDisconnected, At: end, Lasted: lasted, Err: why})
	return lasted, lost
}

// shutdown runs when Run returns: paho is disconnected by then; stop our goroutines and
// settle every delivery that can no longer complete.
func (s *Session) shutdown() {
	s.pubMu.Lock()
	s.closed = true
	s.pubMu.Unlock()
	close(s.stopping)
	s.hmu.Lock()
	s.hclosed = true
	for s.handlers > 0 {
		s.hcond.Wait()
	}
	s.hmu.Unlock()
	s.bg.Wait()
	s.store.close(ErrClosed)
}

func (s *Session) attemptCtx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runCtx
}

// noteDial remembers the attempt's socket (to abort it) or why it could not be opened.
func (s *Session) noteDial(conn net.Conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dialConn, s.dialErr = conn, err
	s.rememberConn(conn) // for Reconnect
}

func (s *Session) abortAttempt() {
	s.mu.Lock()
	c := s.dialConn
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (s *Session) emit(e Event) {
	if s.o.OnEvent != nil {
		s.o.OnEvent(e)
	}
}

// Connected reports whether a connection is up and Publish will accept messages.
func (s *Session) Connected() bool { return s.connected.Load() }

// State returns a snapshot for status reports.
func (s *Session) State() State {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	st.Attempts = int(s.attempts.Load())
	st.InFlight = s.store.inFlight()
	st.DroppedQoS0 = s.dropped.Load()
	return st
}

func (s *Session) addr() string { return net.JoinHostPort(s.o.Endpoint, itoa(s.o.Port)) }

// waitToken waits for a paho token, at most timeout and no longer than ctx. done is false
// when it did not complete in time.
func waitToken(ctx context.Context, tok mqtt.Token, timeout time.Duration) (done bool, err error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return true, tok.Error()
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
