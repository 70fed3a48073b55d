// Package jobs runs AWS IoT Jobs on thingd's MQTT session: it takes work with start-next,
// runs one job at a time through the handlers configured in [jobs], and reports the outcome.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/handler"
	"thingd/daemon/session"
)

// DefaultRequestTimeout is how long a request waits for its accepted/rejected answer
// before it is sent again (the answer may have been lost with a connection).
const DefaultRequestTimeout = 30 * time.Second

// maxRequestWait bounds the growing wait between resends of an unanswered request.
const maxRequestWait = 10 * time.Minute

// Runner runs one step's program; the default is handler.Exec (argv, no shell, timeout,
// own process group). Tests give a fake.
type Runner func(ctx context.Context, argv []string, timeout time.Duration, env []string, stdin []byte) (handler.Result, error)

// Options configure an Agent.
type Options struct {
	Thing      string
	Handlers   []Handler
	StateFile  string
	BootIDFile string
	// Publish sends one request at QoS 1; an error means it was not sent (not connected).
	Publish        func(ctx context.Context, topic string, payload []byte) error
	Logger         *zap.Logger
	RequestTimeout time.Duration
	Run            Runner
}

// Agent is the device side of AWS IoT Jobs for one thing.
type Agent struct {
	o        Options
	log      *zap.Logger
	store    store
	handlers map[string]Handler
	prefix   string // $aws/things/<thing>/jobs/

	mu      sync.Mutex
	up      bool
	upCh    chan struct{} // closed while connected
	resub   chan struct{} // closed (and replaced) when a new connection is subscribed
	poke    chan struct{} // notify-next or a new connection: ask start-next again
	waiting map[string]chan reply
	current string        // the job being run, "" none
	since   int64         // the timestamp of the start-next answer that gave current
	gone    chan struct{} // closed when notify-next shows current is no longer pending
	last    State         // what State reports about concluded jobs
}

// State is what `thingd status` shows about jobs.
type State struct {
	Current    string    // the job being run, "" none
	LastJob    string    // the last job concluded here
	LastStatus string    // its status as the cloud holds it: SUCCEEDED, FAILED, ...
	LastAt     time.Time // when it was concluded
	Concluded  int       // jobs concluded since thingd started
}

// State reports the job being run and the last one concluded.
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.last
	s.Current = a.current
	return s
}

type reply struct {
	accepted bool
	payload  []byte
}

// New checks the options; Run does the work.
func New(o Options) (*Agent, error) {
	if o.Thing == "" || o.Publish == nil || o.StateFile == "" {
		return nil, errors.New("jobs: thing, publish and state file are required")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Run == nil {
		o.Run = execRunner(o.Logger)
	}
	if err := os.MkdirAll(filepath.Dir(o.StateFile), 0o700); err != nil {
		return nil, fmt.Errorf("jobs: create the directory of jobs.state_file %s: %w", o.StateFile, err)
	}
	a := &Agent{
		o: o, log: o.Logger.With(zap.String("component", "jobs")), store: store{o.StateFile},
		handlers: map[string]Handler{}, prefix: "$aws/things/" + o.Thing + "/jobs/",
		upCh: make(chan struct{}), resub: make(chan struct{}), poke: make(chan struct{}, 1), waiting: map[string]chan reply{},
		gone: make(chan struct{}),
	}
	for _, h := range o.Handlers {
		a.handlers[h.Operation] = h
	}
	return a, nil
}

func execRunner(log *zap.Logger) Runner {
	return func(ctx context.Context, argv []string, timeout time.Duration, env []string, stdin []byte) (handler.Result, error) {
		e, err := handler.NewExec(argv, handler.ExecOptions{Timeout: timeout, MaxConcurrent: 1, Env: env, Logger: log})
		if err != nil {
			return handler.Result{ExitCode: -1}, err
		}
		defer func() { _ = e.Close(context.Background()) }()
		return e.Run(ctx, "", stdin)
	}
}

// Subscriptions are the jobs topics the session subscribes to for this agent.
func (a *Agent) Subscriptions() []session.Subscription {
	var subs []session.Subscription
	for _, t := range []string{"notify-next", "start-next/accepted", "start-next/rejected", "+/update/accepted", "+/update/rejected"} {
		subs = append(subs, session.Subscription{Filter: a.prefix + t, QoS: 1, Handle: a.inbound})
	}
	return subs
}

// Event is fed the session's events: once subscribed on a new connection, ask for work
// (a job queued while offline is picked up here).
func (a *Agent) Event(e session.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch e.Kind {
	case session.EventSubscribed:
		if !a.up {
			a.up = true
			close(a.upCh)
		}
		close(a.resub)
		a.resub = make(chan struct{})
		a.pokeLocked()
	case session.EventDisconnected:
		if a.up {
			a.up = false
			a.upCh = make(chan struct{})
		}
	}
}

func (a *Agent) pokeLocked() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// connected is closed while connected; resub is closed on the next new connection.
func (a *Agent) connected() (up, resub <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.upCh, a.resub
}

// inbound takes a message from the session's one worker: it only hands it over.
func (a *Agent) inbound(_ context.Context, topic string, payload []byte) error {
	if topic == a.prefix+"notify-next" {
		var n struct {
			Timestamp int64 `json:"timestamp"`
			Execution *struct {
				JobID string `json:"jobId"`
			} `json:"execution"`
		}
		_ = json.Unmarshal(payload, &n)
		a.mu.Lock()
		defer a.mu.Unlock()
		// An older notify-next (redelivered after a reconnect) says nothing about current.
		if a.current != "" && n.Timestamp >= a.since && (n.Execution == nil || n.Execution.JobID != a.current) {
			a.log.Info("the cloud no longer has the running job pending (timed out, canceled or removed)", zap.String("job", a.current))
			a.closeGoneLocked()
		}
		a.pokeLocked()
		return nil
	}
	var t struct {
		ClientToken string `json:"clientToken"`
	}
	if json.Unmarshal(payload, &t) != nil || t.ClientToken == "" {
		return nil
	}
	a.mu.Lock()
	ch := a.waiting[t.ClientToken]
	a.mu.Unlock()
	if ch != nil {
		select {
		case ch <- reply{accepted: len(topic) > 9 && topic[len(topic)-9:] == "/accepted", payload: payload}:
		default: // a duplicate answer (QoS 1 redelivery)
		}
	}
	return nil
}

func (a *Agent) closeGoneLocked() {
	select {
	case <-a.gone:
	default:
		close(a.gone)
	}
}

// setCurrent marks jobID as running and returns the channel closed if the cloud drops it.
func (a *Agent) setCurrent(jobID string, since int64) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.current, a.since = jobID, since
	a.gone = make(chan struct{})
	return a.gone
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// request publishes body (a clientToken added) to topic and waits for its answer, sending
// it again on a new connection or after RequestTimeout. It gives up only when ctx ends.
// A request answered twice is harmless: start-next hands back the same IN_PROGRESS
// execution, and a repeated update is recognised in update.
func (a *Agent) request(ctx context.Context, topic string, body map[string]any) (reply, error) {
	tok := token()
	body["clientToken"] = tok
	payload, err := json.Marshal(body)
	if err != nil {
		return reply{}, err
	}
	ch := make(chan reply, 1)
	a.mu.Lock()
	a.waiting[tok] = ch
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.waiting, tok)
		a.mu.Unlock()
	}()
	wait := a.o.RequestTimeout
	for {
		up, resub := a.connected()
		select {
		case <-up:
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
		if err := a.o.Publish(ctx, topic, payload); err != nil {
			a.log.Debug("jobs request not sent; waiting for the connection", zap.String("topic", topic), zap.Error(err))
			if err := sleep(ctx, time.Second); err != nil {
				return reply{}, err
			}
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case r := <-ch:
			timer.Stop()
			return r, nil
		case <-ctx.Done():
			timer.Stop()
			return reply{}, ctx.Err()
		case <-resub:
			timer.Stop()
			a.log.Debug("new connection before the answer came; sending the request again", zap.String("topic", topic))
		case <-timer.C:
			a.log.Warn("no answer from AWS IoT Jobs (does the endpoint offer Jobs, and does the IoT policy let this device receive its jobs topics?); sending the request again",
				zap.String("topic", topic), zap.Duration("waited", wait))
			// A broker without Jobs never answers: ask less and less often, up to every 10 min.
			wait = min(2*wait, maxRequestWait)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run takes and runs jobs until ctx ends: start-next on every new connection and every
// notify-next, and again after each job, until the cloud has nothing pending.
func (a *Agent) Run(ctx context.Context) {
	for {
		select {
		case <-a.poke:
		case <-ctx.Done():
			return
		}
		for refused := 0; ctx.Err() == nil; {
			ex, err := a.startNext(ctx)
			if err != nil && ctx.Err() == nil {
				// Refused (throttled, say): ask again after a pause rather than at the next
				// notify-next, which may never come for a job already queued.
				_ = sleep(ctx, retryPause(refused))
				refused++
				continue
			}
			if ex == nil {
				break
			}
			refused = 0
			a.handle(ctx, ex)
		}
	}
}

// execution is the JobExecution data type of AWS's MQTT API (the fields thingd uses).
type execution struct {
	JobID                            string            `json:"jobId"`
	Status                           string            `json:"status"`
	StatusDetails                    map[string]string `json:"statusDetails"`
	JobDocument                      json.RawMessage   `json:"jobDocument"`
	VersionNumber                    int64             `json:"versionNumber"`
	ExecutionNumber                  int64             `json:"executionNumber"`
	ApproximateSecondsBeforeTimedOut int64             `json:"approximateSecondsBeforeTimedOut"`

	answered int64 // the start-next answer's timestamp
}

// startNext asks for the next pending execution (IN_PROGRESS ones first); nil when none.
func (a *Agent) startNext(ctx context.Context) (*execution, error) {
	r, err := a.request(ctx, a.prefix+"start-next", map[string]any{})
	if err != nil {
		return nil, err
	}
	var resp struct {
		Execution *execution `json:"execution"`
		Timestamp int64      `json:"timestamp"`
		Code      string     `json:"code"`
		Message   string     `json:"message"`
	}
	if err := json.Unmarshal(r.payload, &resp); err != nil {
		return nil, fmt.Errorf("start-next answer: %w", err)
	}
	if !r.accepted {
		a.log.Warn("start-next rejected", zap.String("code", resp.Code), zap.String("message", resp.Message))
		return nil, fmt.Errorf("start-next rejected: %s: %s", resp.Code, resp.Message)
	}
	if resp.Execution == nil {
		a.log.Debug("no pending job")
		a.dropStale()
	}
	if resp.Execution != nil {
		resp.Execution.answered = resp.Timestamp
	}
	return resp.Execution, nil
}

// dropStale forgets a recorded job the cloud no longer has pending.
func (a *Agent) dropStale() {
	rec, err := a.store.load()
	if err != nil || rec == nil {
		if err != nil {
			a.log.Error("jobs state", zap.Error(err))
		}
		return
	}
	a.log.Warn("the recorded job is no longer pending in the cloud (timed out, canceled or removed); forgetting it",
		zap.String("job", rec.JobID), zap.String("phase", rec.Phase))
	if err := a.store.clear(); err != nil {
		a.log.Error("jobs state", zap.Error(err))
	}
}
