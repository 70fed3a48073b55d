package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"go.uber.org/zap"

	"thingd/daemon/handler"
)

// AWS job execution statuses: QUEUED is the cloud's, the others a device reports.
const (
	StatusQueued     = "QUEUED"
	StatusInProgress = "IN_PROGRESS"
	StatusSucceeded  = "SUCCEEDED"
	StatusFailed     = "FAILED"
	StatusRejected   = "REJECTED"
)

// job is one execution being handled, with the version the next update expects.
type job struct {
	ex      *execution
	version int64
	steps   []step
	log     *zap.Logger
	gone    <-chan struct{}
	// deadline is when the cloud times the execution out (its approximateSecondsBeforeTimedOut
	// when start-next answered); zero when it has no timeout.
	deadline time.Time
}

// handle takes one execution from start-next to its terminal update. The record in the
// state file says how far an earlier run of thingd got with it, so nothing runs twice.
func (a *Agent) handle(ctx context.Context, ex *execution) {
	j := &job{ex: ex, version: ex.VersionNumber, log: a.log.With(zap.String("job", ex.JobID))}
	j.gone = a.setCurrent(ex.JobID, ex.answered)
	if s := ex.ApproximateSecondsBeforeTimedOut; s > 0 {
		j.deadline = time.Now().Add(time.Duration(s) * time.Second)
	}
	defer a.setCurrent("", 0)

	rec, err := a.store.load()
	if err != nil {
		// A damaged record cannot tell what ran; refuse rather than risk running twice.
		j.log.Error("jobs state", zap.Error(err))
		a.finish(ctx, j, &result{Status: StatusFailed, Details: details{}.set("reason", err.Error())})
		return
	}
	if rec != nil && (rec.JobID != ex.JobID || rec.ExecutionNumber != ex.ExecutionNumber) {
		j.log.Warn("the recorded job is not the one the cloud has in progress; forgetting it", zap.String("recorded", rec.JobID))
		rec = nil
	}
	j.steps, err = plan(ex.JobDocument, a.handlers)
	if err != nil && (rec == nil || rec.Outcome == nil) {
		j.log.Warn("job refused", zap.Error(err))
		a.finish(ctx, j, &result{Status: StatusRejected, Details: details{}.set("reason", err.Error())})
		return
	}
	boot, err := bootID(a.o.BootIDFile)
	if err != nil {
		j.log.Warn("no boot ID: a reboot step cannot be told from a restart", zap.Error(err))
	}
	from := 0
	if rec != nil {
		switch {
		case rec.Outcome != nil:
			j.log.Info("reporting the outcome recorded before thingd stopped", zap.String("status", rec.Outcome.Status))
			a.finish(ctx, j, rec.Outcome)
			return
		case rec.Step >= len(j.steps):
			from = len(j.steps)
		case j.steps[rec.Step].Handler.Reboot && boot != "" && boot != rec.BootID:
			j.log.Info("the device rebooted: the reboot step is done", zap.String("step", j.steps[rec.Step].Name))
			from = rec.Step + 1
		case rec.Phase == phaseRebooting:
			j.log.Info("waiting for the reboot this job asked for", zap.String("step", j.steps[rec.Step].Name))
			a.awaitGone(ctx, j)
			return
		default:
			s := j.steps[rec.Step]
			j.log.Warn("thingd stopped while a job step ran; not running it again", zap.String("step", s.Name))
			a.finish(ctx, j, &result{Status: StatusFailed, Details: details{}.
				set("operation", s.Operation).set("step", s.Name).
				set("reason", "interrupted: thingd stopped while this step ran; it was not run again")})
			return
		}
	}
	a.runSteps(ctx, j, from, boot)
}

// runSteps runs the steps from index from on, recording each before it starts.
func (a *Agent) runSteps(ctx context.Context, j *job, from int, boot string) {
	var last details
	for i := from; i < len(j.steps); i++ {
		s := j.steps[i]
		if err := a.store.save(&record{JobID: j.ex.JobID, ExecutionNumber: j.ex.ExecutionNumber, Step: i, Phase: phaseRunning, BootID: boot}); err != nil {
			j.log.Error("jobs state", zap.Error(err))
			a.finish(ctx, j, &result{Status: StatusFailed, Details: details{}.set("reason", err.Error())})
			return
		}
		if !a.progress(ctx, j, details{}.set("operation", s.Operation).set("step", s.Name).set("stepIndex", strconv.Itoa(i))) {
			return
		}
		d, ok, res := a.runStep(ctx, j, s)
		if !ok {
			return // stopped, or the cloud dropped the job: the record stays for the next start
		}
		last = d
		if res == nil && s.Handler.Reboot {
			if err := a.store.save(&record{JobID: j.ex.JobID, ExecutionNumber: j.ex.ExecutionNumber, Step: i, Phase: phaseRebooting, BootID: boot}); err != nil {
				j.log.Error("jobs state", zap.Error(err))
			}
			j.log.Info("reboot step finished; the job succeeds once the device is back on a new boot", zap.String("step", s.Name))
			a.awaitGone(ctx, j)
			return
		}
		if res != nil && !s.IgnoreFailure {
			a.finish(ctx, j, &result{Status: StatusFailed, Details: d})
			return
		}
	}
	if last == nil {
		last = details{}
	}
	if from > 0 && from == len(j.steps) {
		last = details{}.set("step", j.steps[from-1].Name).set("reason", "the device rebooted")
	}
	a.finish(ctx, j, &result{Status: StatusSucceeded, Details: last})
}

// runStep runs one step's program. failure is nil when it succeeded, else why not; d is its
// statusDetails. ok is false when the outcome must not be reported (thingd stopping or
// the cloud no longer has the job).
func (a *Agent) runStep(ctx context.Context, j *job, s step) (d details, ok bool, failure error) {
	timeout := s.Handler.Timeout
	// Keep within the cloud's step or in-progress timeout, as start-next told it.
	if !j.deadline.IsZero() {
		timeout = max(min(timeout, time.Until(j.deadline)), time.Second)
	}
	argv := append(append([]string(nil), s.Handler.Exec...), s.Args...)
	env := []string{"THINGD_JOB_ID=" + j.ex.JobID, "THINGD_JOB_OPERATION=" + s.Operation, "THINGD_JOB_STEP=" + s.Name}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		select {
		case <-j.gone:
			cancel()
		case <-done:
		}
	}()
	j.log.Info("running job step", zap.String("step", s.Name), zap.Strings("argv", argv), zap.Duration("timeout", timeout))
	out, err := a.o.Run(rctx, argv, timeout, env, j.ex.JobDocument)
	close(done)
	if ctx.Err() != nil {
		j.log.Info("thingd is stopping; the job step was cut short and is concluded after the restart", zap.String("step", s.Name))
		return nil, false, nil
	}
	select {
	case <-j.gone:
		j.log.Warn("job step stopped: the cloud no longer has this job pending", zap.String("step", s.Name))
		_ = a.store.clear()
		return nil, false, nil
	default:
	}
	d = details{}.set("operation", s.Operation).set("step", s.Name).set("exitCode", strconv.Itoa(out.ExitCode)).
		set("signal", out.Signal)
	if err != nil {
		reason := err.Error()
		if errors.Is(err, handler.ErrTimeout) {
			reason = "timed out after " + timeout.String() + " and was killed"
		}
		d.set("reason", reason)
	}
	d.tail("stdout", out.Stdout).tail("stderr", out.Stderr)
	return d, true, err
}

// progress reports IN_PROGRESS with the step about to run. False: do not go on (stopping,
// or the cloud has concluded the job).
func (a *Agent) progress(ctx context.Context, j *job, d details) bool {
	st, ok := a.update(ctx, j, StatusInProgress, d)
	if !ok {
		return false
	}
	if st != StatusInProgress {
		j.log.Warn("the cloud has concluded this job; not running it", zap.String("status", st))
		_ = a.store.clear()
		return false
	}
	return true
}

// finish records the outcome, reports it, and forgets the job once AWS took it (or had
// concluded the job already).
func (a *Agent) finish(ctx context.Context, j *job, r *result) {
	if err := a.store.save(&record{JobID: j.ex.JobID, ExecutionNumber: j.ex.ExecutionNumber, Phase: phaseDone, Outcome: r}); err != nil {
		j.log.Error("jobs state", zap.Error(err))
	}
	st, ok := a.update(ctx, j, r.Status, r.Details)
	if !ok {
		return
	}
	a.mu.Lock()
	a.last.LastJob, a.last.LastStatus, a.last.LastAt = j.ex.JobID, st, time.Now()
	a.last.Concluded++
	a.mu.Unlock()
	if st != r.Status {
		j.log.Warn("the cloud had already concluded this job", zap.String("status", st), zap.String("ours", r.Status))
	} else {
		j.log.Info("job concluded", zap.String("status", r.Status), zap.Any("details", r.Details))
	}
	if err := a.store.clear(); err != nil {
		j.log.Error("jobs state", zap.Error(err))
	}
}

// awaitGone waits, during a reboot, for thingd to stop or the cloud to drop the job.
func (a *Agent) awaitGone(ctx context.Context, j *job) {
	select {
	case <-ctx.Done():
	case <-j.gone:
		_ = a.store.clear()
	}
}

// update sends one status update with expectedVersion and returns the status the cloud
// now holds. ok is false only when ctx ended. A VersionMismatch while the job is still in
// progress (our earlier update arrived twice) adopts the cloud's version and tries again.
func (a *Agent) update(ctx context.Context, j *job, status string, d details) (string, bool) {
	for attempt := 0; ; attempt++ {
		body := map[string]any{"status": status, "expectedVersion": j.version, "executionNumber": j.ex.ExecutionNumber,
			"includeJobExecutionState": true}
		if len(d) > 0 {
			body["statusDetails"] = d
		}
		r, err := a.request(ctx, a.prefix+j.ex.JobID+"/update", body)
		if err != nil {
			return "", false
		}
		var resp struct {
			ExecutionState *struct {
				Status        string `json:"status"`
				VersionNumber int64  `json:"versionNumber"`
			} `json:"executionState"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(r.payload, &resp)
		if r.accepted {
			if resp.ExecutionState != nil {
				j.version = resp.ExecutionState.VersionNumber
			} else {
				j.version++
			}
			return status, true
		}
		j.log.Warn("job update rejected", zap.String("status", status), zap.String("code", resp.Code), zap.String("message", resp.Message))
		if es := resp.ExecutionState; es != nil {
			j.version = es.VersionNumber
			if es.Status != StatusInProgress && es.Status != StatusQueued {
				return es.Status, true // concluded: by us (a repeated update) or by the cloud
			}
			// Still in progress: a VersionMismatch (our update arrived twice) is retried at
			// once with the cloud's version; anything else after a pause.
			if resp.Code != "VersionMismatch" || attempt >= 3 {
				if sleep(ctx, retryPause(attempt)) != nil {
					return "", false
				}
			}
			continue
		}
		switch {
		case resp.Code == "ResourceNotFound":
			return "", true // the cloud no longer has the job: nothing to go on with
		case (resp.Code == "InvalidRequest" || resp.Code == "InvalidJson") && len(d) > 0:
			// Never leave the job unreported over its details: try a plain reason, then none.
			if _, plain := d["reason"]; plain && len(d) == 1 {
				d = nil
			} else {
				d = details{}.set("reason", "thingd's statusDetails were refused: "+resp.Message)
			}
			continue
		}
		// Throttled, an internal error, or refused for a reason thingd cannot fix: keep the job
		// recorded (so it is never run again) and keep trying, more and more slowly.
		if sleep(ctx, retryPause(attempt)) != nil {
			return "", false
		}
	}
}

// retryPause is the wait before the attempt-th retry of a refused update: 1 s doubling to 1 min.
func retryPause(attempt int) time.Duration {
	return min(time.Second<<min(attempt, 6), time.Minute)
}
