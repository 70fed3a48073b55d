package awsiot

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// JobsOptions configure the Jobs service.
type JobsOptions struct {
	// Minute is how long one of AWS's minutes lasts here (stepTimeoutInMinutes and the
	// job's in-progress timeout), so a test can see a TIMED_OUT in seconds; 0 is a minute.
	Minute time.Duration
}

// JobOptions are the job-level settings of AddJob.
type JobOptions struct {
	// InProgressTimeoutMinutes is the job's timeoutConfig: an execution still IN_PROGRESS
	// that long after it started becomes TIMED_OUT. 0: none.
	InProgressTimeoutMinutes int
}

// Jobs is AWS IoT Jobs' device MQTT API (Developer Guide, "Jobs device MQTT API
// operations"): a queue of executions per thing; get, start-next, <jobId>/get and
// <jobId>/update answered on .../accepted or .../rejected with AWS's payloads; expectedVersion
// checked (VersionMismatch); statusDetails held to AWS's limits; step and in-progress
// timeouts turning an execution TIMED_OUT; notify and notify-next published whenever the
// pending list or the next execution changes. Pass it in Options.Services and Attach it to
// the broker. Simplifications: responses go to every subscriber of the response topic (AWS
// sends them to the requesting client only); no rollouts, retries, cancellation by the device.
type Jobs struct {
	minute time.Duration

	mu      sync.Mutex
	send    func(Message) // where notifications go: the broker, or a test's function
	things  map[string][]*Execution
	next    map[string]string // thing -> jobId last announced on notify-next ("" none)
	timers  map[*time.Timer]struct{}
	changed chan struct{}
	closed  bool
}

// NewJobs makes the Jobs service.
func NewJobs(o JobsOptions) *Jobs {
	if o.Minute <= 0 {
		o.Minute = time.Minute
	}
	return &Jobs{minute: o.Minute, things: map[string][]*Execution{}, next: map[string]string{},
		timers: map[*time.Timer]struct{}{}, changed: make(chan struct{})}
}

// Attach gives the service the broker it publishes notifications through; call it right
// after Start.
func (j *Jobs) Attach(b *Broker) {
	j.Deliver(func(m Message) { _ = b.Publish(m.Topic, m.Payload, m.QoS) })
}

// Deliver sends the service's notifications (notify, notify-next) to f instead of a broker,
// for a unit test that drives Handle itself. f is called without the service's lock held.
func (j *Jobs) Deliver(f func(Message)) {
	j.mu.Lock()
	j.send = f
	j.mu.Unlock()
}

// Close stops the timeout timers.
func (j *Jobs) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	for t := range j.timers {
		t.Stop()
	}
	clear(j.timers)
}

const thingsPrefix = "$aws/things/"

// parseJobsTopic splits $aws/things/<thing>/jobs/<rest...>.
func parseJobsTopic(topic string) (thing string, rest []string, ok bool) {
	if !strings.HasPrefix(topic, thingsPrefix) {
		return "", nil, false
	}
	parts := strings.Split(strings.TrimPrefix(topic, thingsPrefix), "/")
	if len(parts) < 3 || parts[1] != "jobs" || parts[0] == "" {
		return "", nil, false
	}
	return parts[0], parts[2:], true
}

// Handles is true for the request topics a device publishes to.
func (j *Jobs) Handles(topic string) bool {
	_, rest, ok := parseJobsTopic(topic)
	if !ok {
		return false
	}
	switch {
	case len(rest) == 1:
		return rest[0] == "get" || rest[0] == "start-next"
	case len(rest) == 2:
		return rest[1] == "get" || rest[1] == "update"
	}
	return false
}

type jobsRequest struct {
	ClientToken          string            `json:"clientToken"`
	Status               string            `json:"status"`
	StatusDetails        map[string]string `json:"statusDetails"`
	ExpectedVersion      *int64            `json:"expectedVersion"`
	ExecutionNumber      *int64            `json:"executionNumber"`
	IncludeJobExecState  bool              `json:"includeJobExecutionState"`
	IncludeJobDocument   *bool             `json:"includeJobDocument"`
	StepTimeoutInMinutes *int64            `json:"stepTimeoutInMinutes"`
}

// Handle answers one request; requests never reach subscribers, as on AWS.
func (j *Jobs) Handle(_ string, topic string, payload []byte) ([]Message, bool) {
	thing, rest, _ := parseJobsTopic(topic)
	now := time.Now()
	var req jobsRequest
	var resp any
	var err *jobsError
	var notes []Message
	if len(payload) > 0 {
		if e := json.Unmarshal(payload, &req); e != nil {
			err = reject("InvalidJson", "the request is not valid JSON: %v", e)
		}
	}
	if err == nil {
		j.mu.Lock()
		before := j.pendingKey(thing)
		switch {
		case len(rest) == 1 && rest[0] == "get":
			resp = j.getPending(thing, req, now)
		case len(rest) == 1 && rest[0] == "start-next":
			resp, err = j.startNext(thing, req, now)
		case rest[1] == "get":
			resp, err = j.describe(thing, rest[0], req, now)
		default:
			resp, err = j.update(thing, rest[0], req, now)
		}
		notes = j.notifications(thing, before, now)
		j.mu.Unlock()
	}
	out := topic + "/accepted"
	var body any = resp
	if err != nil {
		out = topic + "/rejected"
		err.ClientToken, err.Timestamp = req.ClientToken, now.Unix()
		body = err
	}
	p, _ := json.Marshal(body)
	return append([]Message{{Topic: out, Payload: p, QoS: 1}}, notes...), false
}

// find is the thing's execution of jobID ("$next": the next pending one), or nil.
func (j *Jobs) find(thing, jobID string) *Execution {
	if jobID == "$next" {
		return j.nextPending(thing)
	}
	for _, e := range j.things[thing] {
		if e.JobID == jobID {
			return e
		}
	}
	return nil
}

// nextPending is the first IN_PROGRESS execution in queue order, else the first QUEUED.
func (j *Jobs) nextPending(thing string) *Execution {
	var queued *Execution
	for _, e := range j.things[thing] {
		if e.Status == StatusInProgress {
			return e
		}
		if e.Status == StatusQueued && queued == nil {
			queued = e
		}
	}
	return queued
}

func (j *Jobs) getPending(thing string, req jobsRequest, now time.Time) any {
	resp := struct {
		InProgress []wireSummary `json:"inProgressJobs"`
		Queued     []wireSummary `json:"queuedJobs"`
		Timestamp  int64         `json:"timestamp"`
		Token      string        `json:"clientToken,omitempty"`
	}{InProgress: []wireSummary{}, Queued: []wireSummary{}, Timestamp: now.Unix(), Token: req.ClientToken}
	for _, e := range j.things[thing] {
		switch e.Status {
		case StatusInProgress:
			resp.InProgress = append(resp.InProgress, e.summary())
		case StatusQueued:
			resp.Queued = append(resp.Queued, e.summary())
		}
	}
	return resp
}

type executionResponse struct {
	Execution *wireExecution `json:"execution,omitempty"`
	Timestamp int64          `json:"timestamp"`
	Token     string         `json:"clientToken,omitempty"`
}

func (j *Jobs) startNext(thing string, req jobsRequest, now time.Time) (any, *jobsError) {
	resp := executionResponse{Timestamp: now.Unix(), Token: req.ClientToken}
	if err := checkStatusDetails(req.StatusDetails); err != nil {
		return nil, err
	}
	if err := j.checkStepTimeout(req.StepTimeoutInMinutes, false); err != nil {
		return nil, err
	}
	e := j.nextPending(thing)
	if e == nil {
		return resp, nil // no execution field: nothing pending
	}
	if e.Status == StatusQueued {
		// A QUEUED execution starts; one already IN_PROGRESS keeps its details and timer.
		j.transition(e, StatusInProgress, req.StatusDetails, now)
		j.setStepTimer(e, req.StepTimeoutInMinutes, now)
	}
	w := e.wire(now, true)
	resp.Execution = &w
	return resp, nil
}

func (j *Jobs) describe(thing, jobID string, req jobsRequest, now time.Time) (any, *jobsError) {
	e := j.find(thing, jobID)
	if e == nil {
		if jobID == "$next" {
			return executionResponse{Timestamp: now.Unix(), Token: req.ClientToken}, nil
		}
		return nil, reject("ResourceNotFound", "no execution of job %s on thing %s", jobID, thing)
	}
	if req.ExecutionNumber != nil && *req.ExecutionNumber != e.ExecutionNumber {
		return nil, reject("ResourceNotFound", "job %s on thing %s has no execution number %d", jobID, thing, *req.ExecutionNumber)
	}
	w := e.wire(now, req.IncludeJobDocument == nil || *req.IncludeJobDocument)
	return executionResponse{Execution: &w, Timestamp: now.Unix(), Token: req.ClientToken}, nil
}

func (j *Jobs) update(thing, jobID string, req jobsRequest, now time.Time) (any, *jobsError) {
	e := j.find(thing, jobID)
	if e == nil {
		return nil, reject("ResourceNotFound", "no execution of job %s on thing %s", jobID, thing)
	}
	refuse := func(err *jobsError, withState bool) (any, *jobsError) {
		if withState {
			err.ExecutionState = e.state()
		}
		e.Rejected = append(e.Rejected, err.Code)
		return nil, err
	}
	switch req.Status {
	case StatusInProgress, StatusSucceeded, StatusFailed, StatusRejected:
	case "":
		return refuse(reject("InvalidRequest", "status is required"), false)
	default:
		return refuse(reject("InvalidRequest", "status %q cannot be set by a device; use IN_PROGRESS, SUCCEEDED, FAILED or REJECTED", req.Status), false)
	}
	if req.ExecutionNumber != nil && *req.ExecutionNumber != e.ExecutionNumber {
		return refuse(reject("ResourceNotFound", "job %s on thing %s has no execution number %d", jobID, thing, *req.ExecutionNumber), false)
	}
	if req.ExpectedVersion != nil && *req.ExpectedVersion != e.VersionNumber {
		return refuse(reject("VersionMismatch", "expected version %d, the execution is at version %d", *req.ExpectedVersion, e.VersionNumber), true)
	}
	if terminal(e.Status) {
		return refuse(reject("InvalidStateTransition", "the execution of job %s is %s, a terminal status", jobID, e.Status), true)
	}
	if err := checkStatusDetails(req.StatusDetails); err != nil {
		return refuse(err, false)
	}
	if err := j.checkStepTimeout(req.StepTimeoutInMinutes, true); err != nil {
		return refuse(err, false)
	}
	j.transition(e, req.Status, req.StatusDetails, now)
	if req.Status == StatusInProgress {
		j.setStepTimer(e, req.StepTimeoutInMinutes, now)
	}
	resp := struct {
		ExecutionState *wireState      `json:"executionState,omitempty"`
		JobDocument    json.RawMessage `json:"jobDocument,omitempty"`
		Timestamp      int64           `json:"timestamp"`
		Token          string          `json:"clientToken,omitempty"`
	}{Timestamp: now.Unix(), Token: req.ClientToken}
	if req.IncludeJobExecState {
		resp.ExecutionState = e.state()
	}
	if req.IncludeJobDocument != nil && *req.IncludeJobDocument {
		resp.JobDocument = e.Document
	}
	return resp, nil
}

func (j *Jobs) checkStepTimeout(m *int64, mayCancel bool) *jobsError {
	if m == nil || (mayCancel && *m == -1) || (*m >= 1 && *m <= MaxStepTimeoutInMinutes) {
		return nil
	}
	return reject("InvalidRequest", "stepTimeoutInMinutes %d: use 1..%d (or -1 to cancel the step timer in an update)", *m, MaxStepTimeoutInMinutes)
}

// transition applies a status change and its bookkeeping; statusDetails given replace the
// old ones, absent ones leave them unchanged.
func (j *Jobs) transition(e *Execution, status string, details map[string]string, now time.Time) {
	if e.Status == StatusQueued && status != StatusQueued {
		e.StartedAt = now
		if e.inProgressTO > 0 {
			e.jobDeadline = now.Add(time.Duration(e.inProgressTO) * j.minute)
			j.armTimer(e, e.jobDeadline)
		}
	}
	e.Status = status
	if details != nil {
		e.StatusDetails = maps.Clone(details)
	}
	e.LastUpdatedAt = now
	e.VersionNumber++
	e.History = append(e.History, status)
}

func (j *Jobs) setStepTimer(e *Execution, minutes *int64, now time.Time) {
	switch {
	case minutes == nil:
	case *minutes == -1:
		e.stepDeadline = time.Time{}
	default:
		e.stepDeadline = now.Add(time.Duration(*minutes) * j.minute)
		j.armTimer(e, e.stepDeadline)
	}
}

// armTimer checks e's timeouts at "at". Stale timers (a step timer reset since) find the
// deadline not yet passed and do nothing.
func (j *Jobs) armTimer(e *Execution, at time.Time) {
	if j.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(time.Until(at), func() {
		j.mu.Lock()
		delete(j.timers, t)
		if j.closed {
			j.mu.Unlock()
			return
		}
		now := time.Now()
		before := j.pendingKey(e.ThingName)
		if d := e.deadline(); e.Status == StatusInProgress && !d.IsZero() && !now.Before(d) {
			j.transition(e, StatusTimedOut, nil, now)
		}
		notes := j.notifications(e.ThingName, before, now)
		send := j.send
		j.mu.Unlock()
		publish(send, notes)
	})
	j.timers[t] = struct{}{}
}

func publish(send func(Message), msgs []Message) {
	if send == nil {
		return
	}
	for _, m := range msgs {
		send(m)
	}
}

// pendingKey summarises the thing's pending list, to tell whether notify must be sent.
func (j *Jobs) pendingKey(thing string) string {
	var sb strings.Builder
	for _, e := range j.things[thing] {
		if !terminal(e.Status) {
			fmt.Fprintf(&sb, "%s:%s,", e.JobID, e.Status)
		}
	}
	return sb.String()
}

// notifications are the notify and notify-next messages due after a change (j.mu held),
// and wake the waiters of WaitStatus.
func (j *Jobs) notifications(thing, before string, now time.Time) []Message {
	close(j.changed)
	j.changed = make(chan struct{})
	var out []Message
	if j.pendingKey(thing) != before {
		jobs := map[string][]wireSummary{}
		for _, e := range j.things[thing] {
			if !terminal(e.Status) {
				jobs[e.Status] = append(jobs[e.Status], e.summary())
			}
		}
		p, _ := json.Marshal(struct {
			Timestamp int64                    `json:"timestamp"`
			Jobs      map[string][]wireSummary `json:"jobs"`
		}{now.Unix(), jobs})
		out = append(out, Message{Topic: thingsPrefix + thing + "/jobs/notify", Payload: p, QoS: 1})
	}
	next, id := j.nextPending(thing), ""
	if next != nil {
		id = next.JobID
	}
	if id != j.next[thing] {
		j.next[thing] = id
		resp := executionResponse{Timestamp: now.Unix()}
		if next != nil {
			w := next.wire(now, true)
			resp.Execution = &w
		}
		p, _ := json.Marshal(resp)
		out = append(out, Message{Topic: thingsPrefix + thing + "/jobs/notify-next", Payload: p, QoS: 1})
	}
	return out
}

// AddJob queues an execution of a new job with this document (JSON) for thing, and
// publishes notify and notify-next as AWS does when that changes the thing's pending list.
func (j *Jobs) AddJob(thing, jobID string, document []byte, o JobOptions) error {
	if !json.Valid(document) {
		return fmt.Errorf("awsiot jobs: the document of job %s is not valid JSON", jobID)
	}
	now := time.Now()
	j.mu.Lock()
	if j.find(thing, jobID) != nil {
		j.mu.Unlock()
		return fmt.Errorf("awsiot jobs: thing %s already has job %s", thing, jobID)
	}
	before := j.pendingKey(thing)
	e := &Execution{JobID: jobID, ThingName: thing, Document: slices.Clone(document), Status: StatusQueued,
		QueuedAt: now, LastUpdatedAt: now, VersionNumber: 1, ExecutionNumber: 1, History: []string{StatusQueued},
		inProgressTO: o.InProgressTimeoutMinutes}
	j.things[thing] = append(j.things[thing], e)
	notes := j.notifications(thing, before, now)
	send := j.send
	j.mu.Unlock()
	if send == nil {
		return fmt.Errorf("awsiot jobs: not attached to a broker; call Attach(b) after Start")
	}
	publish(send, notes)
	return nil
}

// Execution is a copy of thing's execution of jobID.
func (j *Jobs) Execution(thing, jobID string) (Execution, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := j.find(thing, jobID)
	if e == nil {
		return Execution{}, false
	}
	return e.copy(), true
}

func (e *Execution) copy() Execution {
	c := *e
	c.StatusDetails = maps.Clone(e.StatusDetails)
	c.History = slices.Clone(e.History)
	c.Rejected = slices.Clone(e.Rejected)
	c.Document = slices.Clone(e.Document)
	return c
}

// WaitStatus waits until thing's execution of jobID has status, and returns it; after
// timeout it returns an error with what the execution went through.
func (j *Jobs) WaitStatus(thing, jobID, status string, timeout time.Duration) (Execution, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		j.mu.Lock()
		e := j.find(thing, jobID)
		var c Execution
		if e != nil {
			c = e.copy()
		}
		ch := j.changed
		j.mu.Unlock()
		if e != nil && c.Status == status {
			return c, nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			if e == nil {
				return c, fmt.Errorf("awsiot jobs: thing %s has no job %s after %v", thing, jobID, timeout)
			}
			return c, fmt.Errorf("awsiot jobs: job %s on %s is %s after %v, not %s (history %v, rejected %v, details %v)",
				jobID, thing, c.Status, timeout, status, c.History, c.Rejected, c.StatusDetails)
		}
	}
}
