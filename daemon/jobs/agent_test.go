package jobs

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"thingd/daemon/handler"
	"thingd/daemon/session"
	"thingd/internal/testbed/awsiot"
)

// cloud is the testbed's AWS IoT Jobs service driven in process: the agent's publishes go
// to its Handle and the answers and notifications come straight back, no MQTT in between.
type cloud struct {
	*awsiot.Jobs
	mu    sync.Mutex
	agent *Agent
	// lose, if set, says whether the answers to this request are lost on the way back
	// (the request itself took effect).
	lose func(topic string, payload []byte) bool
	// refuse, if set and returning a code, answers the request on .../rejected with that
	// code instead of handling it (a throttled or failing service).
	refuse func(topic string, payload []byte) string
}

func newCloud(t *testing.T, minute time.Duration) *cloud {
	c := &cloud{Jobs: awsiot.NewJobs(awsiot.JobsOptions{Minute: minute})}
	c.Deliver(c.toAgent)
	t.Cleanup(c.Close)
	return c
}

func (c *cloud) toAgent(m awsiot.Message) {
	c.mu.Lock()
	a := c.agent
	c.mu.Unlock()
	if a != nil {
		_ = a.inbound(context.Background(), m.Topic, m.Payload)
	}
}

func (c *cloud) publish(_ context.Context, topic string, payload []byte) error {
	c.mu.Lock()
	lose, refuse := c.lose, c.refuse
	c.mu.Unlock()
	if refuse != nil {
		if code := refuse(topic, payload); code != "" {
			var req struct {
				ClientToken string `json:"clientToken"`
			}
			_ = json.Unmarshal(payload, &req)
			p, _ := json.Marshal(map[string]any{"code": code, "message": "refused by the test", "clientToken": req.ClientToken, "timestamp": time.Now().Unix()})
			c.toAgent(awsiot.Message{Topic: topic + "/rejected", Payload: p})
			return nil
		}
	}
	replies, _ := c.Handle("pi", topic, payload)
	if lose != nil && lose(topic, payload) {
		return nil
	}
	for _, r := range replies {
		c.toAgent(r)
	}
	return nil
}

// runner is a fake Runner recording every call; do decides each outcome.
type runner struct {
	mu    sync.Mutex
	calls [][]string
	envs  [][]string
	stdin [][]byte
	times []time.Duration
	do    func(ctx context.Context, argv []string) (handler.Result, error)
}

func (r *runner) run(ctx context.Context, argv []string, timeout time.Duration, env []string, stdin []byte) (handler.Result, error) {
	r.mu.Lock()
	r.calls = append(r.calls, argv)
	r.envs = append(r.envs, env)
	r.stdin = append(r.stdin, stdin)
	r.times = append(r.times, timeout)
	do := r.do
	r.mu.Unlock()
	if do == nil {
		return handler.Result{}, nil
	}
	return do(ctx, argv)
}

func (r *runner) Calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

type fixture struct {
	dir   string
	cloud *cloud
	run   *runner
}

var testHandlers = []Handler{
	{Operation: "hello", Exec: []string{"/usr/lib/hello", "--flag"}, Timeout: time.Minute},
	{Operation: "reboot.sh", Exec: []string{"/usr/lib/reboot"}, Timeout: time.Minute, Reboot: true},
	{Operation: "download-file.sh", Exec: []string{"/usr/lib/download"}, Timeout: time.Minute},
	{Operation: OpRunCommand, Exec: []string{"/usr/bin/env", "--"}, Timeout: time.Minute},
}

func newFixture(t *testing.T, minute time.Duration) *fixture {
	f := &fixture{dir: t.TempDir(), cloud: newCloud(t, minute), run: &runner{}}
	f.setBoot(t, "boot-1")
	return f
}

func (f *fixture) setBoot(t *testing.T, id string) {
	if err := os.WriteFile(filepath.Join(f.dir, "boot_id"), []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs an agent (a thingd run) until the returned stop is called.
func (f *fixture) start(t *testing.T) (stop func()) {
	_, stop = f.startAgent(t)
	return stop
}

func (f *fixture) startAgent(t *testing.T) (a *Agent, stop func()) {
	t.Helper()
	var err error
	a, err = New(Options{Thing: "pi", Handlers: testHandlers, StateFile: filepath.Join(f.dir, "jobs.json"),
		BootIDFile: filepath.Join(f.dir, "boot_id"), Publish: f.cloud.publish, Run: f.run.run, RequestTimeout: time.Minute}) // longer than every wait: resends come from reconnects only
	if err != nil {
		t.Fatal(err)
	}
	f.cloud.mu.Lock()
	f.cloud.agent = a
	f.cloud.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	a.Event(session.Event{Kind: session.EventSubscribed})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			f.cloud.mu.Lock()
			f.cloud.agent = nil
			f.cloud.mu.Unlock()
		})
	}
	t.Cleanup(stop)
	return a, stop
}

func (f *fixture) add(t *testing.T, id, doc string, o awsiot.JobOptions) {
	t.Helper()
	if err := f.cloud.AddJob("pi", id, []byte(doc), o); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) wait(t *testing.T, id, status string) awsiot.Execution {
	t.Helper()
	e, err := f.cloud.WaitStatus("pi", id, status, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) stateGone(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(f.dir, "jobs.json")); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the job state file is still there after the job concluded")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestJobRunsAndSucceeds: a queued job (old schema) is taken with start-next, reported
// IN_PROGRESS, its handler runs once with the configured argv plus the document's args, the
// document on stdin and the job in the environment, and it is reported SUCCEEDED with the
// exit code and the output, using expectedVersion (no update was refused).
func TestJobRunsAndSucceeds(t *testing.T) {
	f := newFixture(t, 0)
	f.run.do = func(context.Context, []string) (handler.Result, error) {
		return handler.Result{ExitCode: 0, Stdout: "done\nall good\n"}, nil
	}
	f.start(t)
	f.add(t, "job1", `{"operation":"hello","args":["a b","$(rm -rf /)"]}`, awsiot.JobOptions{})
	e := f.wait(t, "job1", awsiot.StatusSucceeded)
	calls := f.run.Calls()
	if len(calls) != 1 || !slices.Equal(calls[0], []string{"/usr/lib/hello", "--flag", "a b", "$(rm -rf /)"}) {
		t.Fatalf("runs %q", calls)
	}
	if !strings.Contains(string(f.run.stdin[0]), `"operation":"hello"`) || !slices.Contains(f.run.envs[0], "THINGD_JOB_ID=job1") {
		t.Fatalf("stdin %s env %q", f.run.stdin[0], f.run.envs[0])
	}
	if e.StatusDetails["exitCode"] != "0" || e.StatusDetails["stdout"] != "done | all good" || e.StatusDetails["operation"] != "hello" {
		t.Fatalf("statusDetails %v", e.StatusDetails)
	}
	if want := []string{"QUEUED", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"}; !slices.Equal(e.History, want) || len(e.Rejected) != 0 {
		t.Fatalf("history %v (want %v), rejected %v", e.History, want, e.Rejected)
	}
	f.stateGone(t)
}

// TestFailingHandlerReportedFailed: a handler exiting 3 after a long, multi-line output is
// reported FAILED with exitCode 3 and the tail of its output, within AWS's statusDetails
// limits (the service refuses anything else), and the next job still runs.
func TestFailingHandlerReportedFailed(t *testing.T) {
	f := newFixture(t, 0)
	long := strings.Repeat("noise\tline\n", 500) + "fatal: disk full\n"
	f.run.do = func(_ context.Context, argv []string) (handler.Result, error) {
		if argv[len(argv)-1] == "bad" {
			return handler.Result{ExitCode: 3, Stderr: long, Stdout: "\x1b[31mred\x1b[0m"}, errExit3
		}
		return handler.Result{}, nil
	}
	f.start(t)
	f.add(t, "bad", `{"operation":"hello","args":["bad"]}`, awsiot.JobOptions{})
	f.add(t, "good", `{"operation":"hello","args":["good"]}`, awsiot.JobOptions{})
	e := f.wait(t, "bad", awsiot.StatusFailed)
	d := e.StatusDetails
	if d["exitCode"] != "3" || !strings.HasSuffix(d["stderr"], "fatal: disk full") || len([]rune(d["stderr"])) != maxDetailValue || d["reason"] == "" {
		t.Fatalf("statusDetails %v", d)
	}
	if len(e.Rejected) != 0 {
		t.Fatalf("AWS refused updates: %v", e.Rejected)
	}
	f.wait(t, "good", awsiot.StatusSucceeded)
}

type exitErr string

func (e exitErr) Error() string { return string(e) }

const errExit3 = exitErr("exec handler /usr/lib/hello: exit status 3")

// TestUnknownOperationRejected: a document naming an operation without a configured
// handler is reported REJECTED with the reason, and nothing runs.
func TestUnknownOperationRejected(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t)
	f.add(t, "j", `{"operation":"format-disk"}`, awsiot.JobOptions{})
	e := f.wait(t, "j", awsiot.StatusRejected)
	if !strings.Contains(e.StatusDetails["reason"], `"format-disk"`) || len(f.run.Calls()) != 0 {
		t.Fatalf("details %v, runs %q", e.StatusDetails, f.run.Calls())
	}
}

// TestManagedTemplateDocuments: the job documents of AWS-Download-File and AWS-Run-Command
// (as the console makes them) run their steps' handlers with the documented arguments.
func TestManagedTemplateDocuments(t *testing.T) {
	f := newFixture(t, 0)
	f.start(t)
	f.add(t, "dl", `{"version":"1.0","steps":[{"action":{"name":"Download-File","type":"runHandler",
		"input":{"handler":"download-file.sh","args":["https://example.com/f.tgz","/tmp/f.tgz"],"path":"default"},"runAsUser":""}}]}`, awsiot.JobOptions{})
	f.add(t, "cmd", `{"version":"1.0","steps":[{"action":{"name":"Run-Command","type":"runCommand",
		"input":{"command":"echo,hello\\, world"},"runAsUser":""}}]}`, awsiot.JobOptions{})
	f.wait(t, "dl", awsiot.StatusSucceeded)
	f.wait(t, "cmd", awsiot.StatusSucceeded)
	want := [][]string{{"/usr/lib/download", "https://example.com/f.tgz", "/tmp/f.tgz"}, {"/usr/bin/env", "--", "echo", "hello, world"}}
	if got := f.run.Calls(); len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Fatalf("runs %q, want %q", got, want)
	}
}

// TestRestartMidJobConcludedOnce: thingd stops while a step runs; the next start finds the
// record, reports FAILED (interrupted) and does not run the step again.
func TestRestartMidJobConcludedOnce(t *testing.T) {
	f := newFixture(t, 0)
	started := make(chan struct{})
	f.run.do = func(ctx context.Context, _ []string) (handler.Result, error) {
		close(started)
		<-ctx.Done()
		return handler.Result{ExitCode: -1, Signal: "killed"}, ctx.Err()
	}
	stop := f.start(t)
	f.add(t, "long", `{"operation":"hello"}`, awsiot.JobOptions{})
	<-started
	stop()
	if e, _ := f.cloud.Execution("pi", "long"); e.Status != awsiot.StatusInProgress {
		t.Fatalf("after the stop the job is %s; nothing may be reported for a cut-short step", e.Status)
	}
	f.run.do = nil
	f.start(t)
	e := f.wait(t, "long", awsiot.StatusFailed)
	if n := len(f.run.Calls()); n != 1 || !strings.Contains(e.StatusDetails["reason"], "interrupted") {
		t.Fatalf("runs %d, details %v", n, e.StatusDetails)
	}
	f.stateGone(t)
}

// TestRebootJobSucceedsAfterReboot: the AWS-Reboot document's handler runs once; the job
// stays IN_PROGRESS until thingd comes back on a new boot, then is SUCCEEDED; a restart on
// the same boot does not conclude it nor run it again.
func TestRebootJobSucceedsAfterReboot(t *testing.T) {
	f := newFixture(t, 0)
	stop := f.start(t)
	f.add(t, "rb", `{"version":"1.0","steps":[{"action":{"name":"Reboot","type":"runHandler",
		"input":{"handler":"reboot.sh","path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}`, awsiot.JobOptions{})
	deadline := time.Now().Add(5 * time.Second)
	for len(f.run.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	stop = f.start(t) // same boot: still waiting for the reboot
	time.Sleep(200 * time.Millisecond)
	stop()
	if e, _ := f.cloud.Execution("pi", "rb"); e.Status != awsiot.StatusInProgress {
		t.Fatalf("before the reboot the job is %s", e.Status)
	}
	f.setBoot(t, "boot-2")
	f.start(t)
	e := f.wait(t, "rb", awsiot.StatusSucceeded)
	if n := len(f.run.Calls()); n != 1 {
		t.Fatalf("the reboot handler ran %d times", n)
	}
	if e.StatusDetails["step"] != "Reboot" {
		t.Fatalf("details %v", e.StatusDetails)
	}
	f.stateGone(t)
}

// TestCloudTimeoutStopsTheStep: the job's in-progress timeout bounds the handler (its
// timeout is cut to approximateSecondsBeforeTimedOut) and, when the cloud marks the
// execution TIMED_OUT, the running step is stopped and the next job is taken.
func TestCloudTimeoutStopsTheStep(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond)
	stopped := make(chan struct{})
	f.run.do = func(ctx context.Context, argv []string) (handler.Result, error) {
		if argv[len(argv)-1] == "hang" {
			<-ctx.Done()
			close(stopped)
			return handler.Result{ExitCode: -1}, ctx.Err()
		}
		return handler.Result{}, nil
	}
	f.start(t)
	f.add(t, "slow", `{"operation":"hello","args":["hang"]}`, awsiot.JobOptions{InProgressTimeoutMinutes: 1})
	f.add(t, "after", `{"operation":"hello","args":["ok"]}`, awsiot.JobOptions{})
	f.wait(t, "slow", awsiot.StatusTimedOut)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the step still runs after the cloud timed the job out")
	}
	f.wait(t, "after", awsiot.StatusSucceeded)
	if to := f.run.times[0]; to > time.Second {
		t.Errorf("the step's timeout was %v; the cloud allowed about 1 s", to)
	}
}

// TestStaleNotifyNextKeepsTheStep: a notify-next older than the start-next answer (one
// queued in the persistent session while offline, redelivered on reconnect) saying nothing
// is pending does not stop the running step; the job still succeeds.
func TestStaleNotifyNextKeepsTheStep(t *testing.T) {
	f := newFixture(t, 0)
	running, release := make(chan struct{}), make(chan struct{})
	f.run.do = func(ctx context.Context, _ []string) (handler.Result, error) {
		close(running)
		select {
		case <-release:
			return handler.Result{}, nil
		case <-ctx.Done():
			return handler.Result{ExitCode: -1}, ctx.Err()
		}
	}
	f.start(t)
	f.add(t, "j", `{"operation":"hello"}`, awsiot.JobOptions{})
	<-running
	f.cloud.toAgent(awsiot.Message{Topic: "$aws/things/pi/jobs/notify-next", Payload: []byte(`{"timestamp":1}`)})
	close(release)
	f.wait(t, "j", awsiot.StatusSucceeded)
}

// TestLostAnswerResentOnReconnect: the answer to the SUCCEEDED update is lost with the
// connection; on the next connection thingd sends the update again, recognises from the
// VersionMismatch that AWS already has it SUCCEEDED, and forgets the job: one SUCCEEDED,
// one run, and the next job is taken.
func TestLostAnswerResentOnReconnect(t *testing.T) {
	f := newFixture(t, 0)
	var lost sync.Once
	lostCh := make(chan struct{})
	f.cloud.lose = func(topic string, payload []byte) bool {
		hit := false
		if strings.HasSuffix(topic, "/j1/update") && strings.Contains(string(payload), `"SUCCEEDED"`) {
			lost.Do(func() { hit = true; close(lostCh) })
		}
		return hit
	}
	a, _ := f.startAgent(t)
	f.add(t, "j1", `{"operation":"hello"}`, awsiot.JobOptions{})
	f.add(t, "j2", `{"operation":"hello"}`, awsiot.JobOptions{})
	<-lostCh
	a.Event(session.Event{Kind: session.EventDisconnected})
	a.Event(session.Event{Kind: session.EventSubscribed})
	f.wait(t, "j2", awsiot.StatusSucceeded)
	e, _ := f.cloud.Execution("pi", "j1")
	if want := []string{"QUEUED", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"}; !slices.Equal(e.History, want) || len(f.run.Calls()) != 2 {
		t.Fatalf("j1 history %v (want %v), runs %q", e.History, want, f.run.Calls())
	}
	f.stateGone(t)
}

// TestThrottledUpdateNotRunTwice: AWS answers the SUCCEEDED update with RequestThrottled
// (no execution state); thingd keeps the job recorded and sends the update again after a
// pause, instead of forgetting it and being handed the same IN_PROGRESS job to run again.
func TestThrottledUpdateNotRunTwice(t *testing.T) {
	f := newFixture(t, 0)
	var once sync.Once
	f.cloud.refuse = func(topic string, payload []byte) (code string) {
		if strings.HasSuffix(topic, "/j/update") && strings.Contains(string(payload), `"SUCCEEDED"`) {
			once.Do(func() { code = "RequestThrottled" })
		}
		return code
	}
	f.start(t)
	f.add(t, "j", `{"operation":"hello"}`, awsiot.JobOptions{})
	f.wait(t, "j", awsiot.StatusSucceeded)
	f.stateGone(t)
	if n := len(f.run.Calls()); n != 1 {
		t.Fatalf("the handler ran %d times", n)
	}
}

// TestThrottledStartNextAskedAgain: the start-next sent on connecting is refused
// (RequestThrottled); thingd asks again after a pause and runs the job queued while it was
// offline, though no notify-next comes for it.
func TestThrottledStartNextAskedAgain(t *testing.T) {
	f := newFixture(t, 0)
	f.add(t, "offline", `{"operation":"hello"}`, awsiot.JobOptions{})
	var once sync.Once
	f.cloud.refuse = func(topic string, _ []byte) (code string) {
		if strings.HasSuffix(topic, "/start-next") {
			once.Do(func() { code = "RequestThrottled" })
		}
		return code
	}
	f.start(t)
	f.wait(t, "offline", awsiot.StatusSucceeded)
}

// TestStepsAfterRebootRunOnTheNewBoot: a job of a reboot step and a check after it runs the
// reboot once, and the check once after the device came back; then it is SUCCEEDED.
func TestStepsAfterRebootRunOnTheNewBoot(t *testing.T) {
	f := newFixture(t, 0)
	stop := f.start(t)
	f.add(t, "rb", `{"version":"1.0","steps":[
		{"action":{"name":"Reboot","type":"runHandler","input":{"handler":"reboot.sh"}}},
		{"action":{"name":"Check","type":"runHandler","input":{"handler":"hello","args":["check"]}}}]}`, awsiot.JobOptions{})
	deadline := time.Now().Add(5 * time.Second)
	for len(f.run.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for {
		b, _ := os.ReadFile(filepath.Join(f.dir, "jobs.json"))
		if strings.Contains(string(b), phaseRebooting) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reboot was never recorded as pending: %s", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	f.setBoot(t, "boot-2")
	f.start(t)
	e := f.wait(t, "rb", awsiot.StatusSucceeded)
	want := [][]string{{"/usr/lib/reboot"}, {"/usr/lib/hello", "--flag", "check"}}
	if got := f.run.Calls(); len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Fatalf("runs %q, want %q", got, want)
	}
	if e.StatusDetails["step"] != "Check" {
		t.Fatalf("details %v", e.StatusDetails)
	}
}

// TestFailedStepSkipsTheRest: a failed step ends the job FAILED and neither later steps nor
// finalStep run, unless the step has ignoreStepFailure "true", in which case all run and
// the job is SUCCEEDED.
func TestFailedStepSkipsTheRest(t *testing.T) {
	f := newFixture(t, 0)
	f.run.do = func(_ context.Context, argv []string) (handler.Result, error) {
		if argv[len(argv)-1] == "fail" {
			return handler.Result{ExitCode: 1}, errExit3
		}
		return handler.Result{}, nil
	}
	f.start(t)
	doc := func(ignore string) string {
		return `{"version":"1.0","steps":[
		{"action":{"name":"A","type":"runHandler","input":{"handler":"hello","args":["fail"]},"ignoreStepFailure":"` + ignore + `"}},
		{"action":{"name":"B","type":"runHandler","input":{"handler":"hello","args":["b"]}}}],
		"finalStep":{"action":{"name":"F","type":"runHandler","input":{"handler":"hello","args":["final"]}}}}`
	}
	f.add(t, "strict", doc("false"), awsiot.JobOptions{})
	if e := f.wait(t, "strict", awsiot.StatusFailed); e.StatusDetails["step"] != "A" || e.StatusDetails["exitCode"] != "1" {
		t.Fatalf("details %v", e.StatusDetails)
	}
	if n := len(f.run.Calls()); n != 1 {
		t.Fatalf("%d runs after the first step failed: %q", n, f.run.Calls())
	}
	f.add(t, "lenient", doc("true"), awsiot.JobOptions{})
	f.wait(t, "lenient", awsiot.StatusSucceeded)
	if n := len(f.run.Calls()); n != 4 {
		t.Fatalf("runs %q", f.run.Calls())
	}
}
