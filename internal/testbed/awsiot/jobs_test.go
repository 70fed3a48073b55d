package awsiot_test

import (
	"encoding/json"
	"testing"
	"time"

	"thingd/internal/testbed/awsiot"
)

type jobsWorld struct {
	*world
	jobs *awsiot.Jobs
	dev  *client
	rec  *awsiot.Recorder
}

func startJobs(t *testing.T, minute time.Duration) *jobsWorld {
	t.Helper()
	jobs := awsiot.NewJobs(awsiot.JobsOptions{Minute: minute})
	w := start(t, awsiot.Options{Services: []awsiot.Service{jobs}})
	jobs.Attach(w.b)
	t.Cleanup(jobs.Close)
	rec, err := w.b.Subscribe("$aws/things/pi/jobs/#")
	if err != nil {
		t.Fatal(err)
	}
	return &jobsWorld{world: w, jobs: jobs, dev: w.mustDial(t, "pi"), rec: rec}
}

// request publishes a jobs request as the device and returns the next message on the
// response topics (accepted or rejected).
func (w *jobsWorld) request(t *testing.T, topic string, body any) awsiot.Message {
	t.Helper()
	p, _ := json.Marshal(body)
	n := len(w.rec.Messages())
	if tok := w.dev.Publish(topic, 1, false, p); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
	for {
		msgs, err := w.rec.Wait(n+1, 10*time.Second)
		if err != nil {
			t.Fatalf("no answer to %s: %v", topic, err)
		}
		m := msgs[n]
		if m.Topic == topic+"/accepted" || m.Topic == topic+"/rejected" {
			return m
		}
		n++
	}
}

func decode(t *testing.T, m awsiot.Message) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(m.Payload, &v); err != nil {
		t.Fatalf("%s: %v: %s", m.Topic, err, m.Payload)
	}
	return v
}

// TestJobsLifecycle: a queued job is announced on notify-next, start-next moves it to
// IN_PROGRESS (version 2) with its document, an update with a stale expectedVersion is
// refused with VersionMismatch and the current state, the right one is accepted, a terminal
// execution refuses further updates, and notify-next then says nothing is pending.
func TestJobsLifecycle(t *testing.T) {
	w := startJobs(t, 0)
	const pre = "$aws/things/pi/jobs/"
	if m := w.request(t, pre+"start-next", map[string]any{"clientToken": "t0"}); m.Topic != pre+"start-next/accepted" || decode(t, m)["execution"] != nil {
		t.Fatalf("start-next with nothing queued: %s %s", m.Topic, m.Payload)
	}
	if err := w.jobs.AddJob("pi", "job1", []byte(`{"operation":"hello"}`), awsiot.JobOptions{}); err != nil {
		t.Fatal(err)
	}
	msgs, err := w.rec.Wait(3, 10*time.Second) // start-next/accepted, notify, notify-next
	if err != nil {
		t.Fatal(err)
	}
	var sawNext bool
	for _, m := range msgs {
		if m.Topic == pre+"notify-next" {
			ex, _ := decode(t, m)["execution"].(map[string]any)
			sawNext = ex["jobId"] == "job1" && ex["status"] == "QUEUED"
		}
	}
	if !sawNext {
		t.Fatalf("no notify-next for job1 in %v", msgs)
	}

	m := w.request(t, pre+"start-next", map[string]any{"clientToken": "t1", "statusDetails": map[string]string{"step": "start"}})
	ex, _ := decode(t, m)["execution"].(map[string]any)
	doc, _ := ex["jobDocument"].(map[string]any)
	if m.Topic != pre+"start-next/accepted" || ex["status"] != "IN_PROGRESS" || ex["versionNumber"] != 2.0 || doc["operation"] != "hello" ||
		decode(t, m)["clientToken"] != "t1" {
		t.Fatalf("start-next: %s %s", m.Topic, m.Payload)
	}

	m = w.request(t, pre+"job1/update", map[string]any{"status": "SUCCEEDED", "expectedVersion": 1, "clientToken": "t2"})
	rej := decode(t, m)
	st, _ := rej["executionState"].(map[string]any)
	if m.Topic != pre+"job1/update/rejected" || rej["code"] != "VersionMismatch" || st["versionNumber"] != 2.0 || rej["clientToken"] != "t2" {
		t.Fatalf("stale expectedVersion: %s %s", m.Topic, m.Payload)
	}
	m = w.request(t, pre+"job1/update", map[string]any{"status": "IN_PROGRESS", "statusDetails": map[string]string{"out": "line1\nline2"}})
	if decode(t, m)["code"] != "InvalidRequest" {
		t.Fatalf("a newline in statusDetails: %s %s", m.Topic, m.Payload)
	}
	m = w.request(t, pre+"job1/update", map[string]any{"status": "SUCCEEDED", "expectedVersion": 2,
		"statusDetails": map[string]string{"exitCode": "0"}, "includeJobExecutionState": true})
	st, _ = decode(t, m)["executionState"].(map[string]any)
	if m.Topic != pre+"job1/update/accepted" || st["status"] != "SUCCEEDED" || st["versionNumber"] != 3.0 {
		t.Fatalf("update: %s %s", m.Topic, m.Payload)
	}
	m = w.request(t, pre+"job1/update", map[string]any{"status": "FAILED"})
	if decode(t, m)["code"] != "InvalidStateTransition" {
		t.Fatalf("update after SUCCEEDED: %s %s", m.Topic, m.Payload)
	}
	e, _ := w.jobs.Execution("pi", "job1")
	if got := e.History; len(got) != 3 || got[2] != "SUCCEEDED" || e.StatusDetails["exitCode"] != "0" {
		t.Fatalf("execution %+v", e)
	}
	if len(e.Rejected) != 3 {
		t.Fatalf("rejected %v, want VersionMismatch, InvalidRequest, InvalidStateTransition", e.Rejected)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var last map[string]any
		for _, m := range w.rec.Messages() {
			if m.Topic == pre+"notify-next" {
				last = decode(t, m)
			}
		}
		if last != nil && last["execution"] == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no empty notify-next after the job ended; last %v", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJobsStepTimeout: an execution started with stepTimeoutInMinutes and not concluded in
// time becomes TIMED_OUT, the next job is announced, and the late update is refused.
func TestJobsStepTimeout(t *testing.T) {
	w := startJobs(t, 200*time.Millisecond)
	const pre = "$aws/things/pi/jobs/"
	for _, id := range []string{"slow", "next"} {
		if err := w.jobs.AddJob("pi", id, []byte(`{"operation":"x"}`), awsiot.JobOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m := w.request(t, pre+"start-next", map[string]any{"stepTimeoutInMinutes": 1})
	if ex, _ := decode(t, m)["execution"].(map[string]any); ex["jobId"] != "slow" || ex["approximateSecondsBeforeTimedOut"] != 1.0 {
		t.Fatalf("start-next: %s", m.Payload)
	}
	if _, err := w.jobs.WaitStatus("pi", "slow", awsiot.StatusTimedOut, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	m = w.request(t, pre+"slow/update", map[string]any{"status": "SUCCEEDED"})
	if r := decode(t, m); r["code"] != "InvalidStateTransition" {
		t.Fatalf("late update: %s", m.Payload)
	}
	m = w.request(t, pre+"start-next", map[string]any{})
	if ex, _ := decode(t, m)["execution"].(map[string]any); ex["jobId"] != "next" {
		t.Fatalf("start-next after the timeout: %s", m.Payload)
	}
}
