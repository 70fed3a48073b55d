package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"thingd/internal/testbed/awsiot"
)

// jobsWorld is newAWSWorld with the Jobs service and [jobs] enabled, its handlers being
// shell scripts the test writes (thingd runs them by path, argv only, as any program).
type jobsWorld struct {
	*world
	b    *awsiot.Broker
	jobs *awsiot.Jobs
	tmp  string // the scripts, their traces, the boot ID and the jobs state
}

// jobsPolicy is the IoT policy the AWS docs give a device that runs jobs: publish to its
// own start-next and update topics, subscribe to and receive its own jobs topics.
var jobsPolicy = &awsiot.Policy{
	Connect:   []string{"thingd-test"},
	Publish:   []string{"$aws/things/pi/jobs/start-next", "$aws/things/pi/jobs/+/update"},
	Subscribe: []string{"$aws/things/pi/jobs/#"},
	Receive:   []string{"$aws/things/pi/jobs/#"},
}

func newJobsWorld(t *testing.T, handlers string) *jobsWorld {
	t.Helper()
	return newJobsWorldMinute(t, 0, handlers)
}

// newJobsWorldMinute is newJobsWorld with AWS's minute (job timeouts) lasting minute.
func newJobsWorldMinute(t *testing.T, minute time.Duration, handlers string) *jobsWorld {
	t.Helper()
	jobs := awsiot.NewJobs(awsiot.JobsOptions{Minute: minute})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "boot_id"), "boot-1\n", 0o600)
	extra := fmt.Sprintf("[jobs]\nenabled = true\nstate_file = %q\nboot_id_file = %q\n%s",
		filepath.Join(dir, "jobs.json"), filepath.Join(dir, "boot_id"), strings.ReplaceAll(handlers, "DIR", dir))
	w, b := newAWSWorld(t, awsiot.Options{Policy: jobsPolicy, Services: []awsiot.Service{jobs}}, extra)
	jobs.Attach(b)
	t.Cleanup(jobs.Close)
	return &jobsWorld{world: w, b: b, jobs: jobs, tmp: dir}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func (w *jobsWorld) script(t *testing.T, name, body string) {
	t.Helper()
	writeFile(t, filepath.Join(w.tmp, name), "#!/bin/sh\n"+strings.ReplaceAll(body, "DIR", w.tmp)+"\n", 0o700)
}

func (w *jobsWorld) add(t *testing.T, id, doc string) {
	t.Helper()
	if err := w.jobs.AddJob("pi", id, []byte(doc), awsiot.JobOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (w *jobsWorld) wait(t *testing.T, id, status string) awsiot.Execution {
	t.Helper()
	e, err := w.jobs.WaitStatus("pi", id, status, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *jobsWorld) lines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.tmp, name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func (w *jobsWorld) waitLines(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(w.lines(t, name)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d lines, want %d", name, len(w.lines(t, name)), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJobExecution mirrors Device Advisor's "Job execution" case under the jobs IoT policy:
// a job created for the thing reaches the running daemon (notify-next), is started with
// start-next, reported IN_PROGRESS and then SUCCEEDED with expectedVersion, and its handler
// ran once with the document on its standard input. A job created while thingd is stopped
// is picked up when it connects again (start-next on connect).
func TestJobExecution(t *testing.T) {
	w := newJobsWorld(t, `
[[jobs.handler]]
operation = "say-hello"
exec = ["DIR/hello.sh", "fixed-arg"]
timeout = "30s"
`)
	w.script(t, "hello.sh", `cat > DIR/stdin-$THINGD_JOB_ID; echo "$THINGD_JOB_ID $*" >> DIR/runs; echo hello from $THINGD_JOB_ID`)
	p := w.start(t)
	w.add(t, "job-online", `{"operation":"say-hello","args":["doc-arg"]}`)
	e := w.wait(t, "job-online", awsiot.StatusSucceeded)
	if want := []string{"QUEUED", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"}; strings.Join(e.History, ",") != strings.Join(want, ",") || len(e.Rejected) != 0 {
		t.Fatalf("history %v (want %v), rejected %v", e.History, want, e.Rejected)
	}
	if e.StatusDetails["exitCode"] != "0" || e.StatusDetails["stdout"] != "hello from job-online" {
		t.Fatalf("statusDetails %v", e.StatusDetails)
	}
	if b, _ := os.ReadFile(filepath.Join(w.tmp, "stdin-job-online")); !strings.Contains(string(b), `"say-hello"`) {
		t.Fatalf("the handler's stdin was %q, not the job document", b)
	}
	// The cloud holds SUCCEEDED a moment before thingd has read the update's answer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _, _ := runThingd(t, nil, "status", "--socket", w.socket)
		if strings.Contains(out, "last job-online SUCCEEDED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thingd status does not show the concluded job:\n%s", out)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("thingd exited %d", code)
	}

	w.add(t, "job-offline", `{"operation":"say-hello"}`)
	p = w.start(t)
	defer p.stop(t)
	w.wait(t, "job-offline", awsiot.StatusSucceeded)
	if runs := w.lines(t, "runs"); strings.Join(runs, " ") != "job-online fixed-arg doc-arg job-offline fixed-arg" {
		t.Fatalf("runs %q", runs)
	}
	if s := w.b.Stats(); len(s.DeniedPublishes) != 0 || len(s.DeniedSubscribes) != 0 {
		t.Fatalf("the jobs policy denied %v / %v", s.DeniedPublishes, s.DeniedSubscribes)
	}
}

// TestJobFailingHandlerReportedFailed: a handler that exits 7 makes the job FAILED, with
// exit code 7 and the end of its standard error in statusDetails (accepted by the service,
// so within AWS's limits); a document naming an operation with no handler is REJECTED.
func TestJobFailingHandlerReportedFailed(t *testing.T) {
	w := newJobsWorld(t, `
[[jobs.handler]]
operation = "flash"
exec = ["DIR/flash.sh"]
`)
	w.script(t, "flash.sh", `i=0; while [ $i -lt 300 ]; do echo "writing block $i" >&2; i=$((i+1)); done; echo "flash: checksum mismatch" >&2; exit 7`)
	p := w.start(t)
	defer p.stop(t)
	w.add(t, "fw", `{"operation":"flash"}`)
	w.add(t, "other", `{"operation":"rm-rf"}`)
	e := w.wait(t, "fw", awsiot.StatusFailed)
	if d := e.StatusDetails; d["exitCode"] != "7" || !strings.HasSuffix(d["stderr"], "flash: checksum mismatch") || len(e.Rejected) != 0 {
		t.Fatalf("statusDetails %v, rejected %v", d, e.Rejected)
	}
	if e := w.wait(t, "other", awsiot.StatusRejected); !strings.Contains(e.StatusDetails["reason"], `"rm-rf"`) {
		t.Fatalf("statusDetails %v", e.StatusDetails)
	}
}

// TestJobRestartMidJobConcludedOnce: thingd is killed (-9) while a job's handler runs; the
// next thingd finds the job in its state file, reports it FAILED (interrupted) and does not
// run the handler a second time.
func TestJobRestartMidJobConcludedOnce(t *testing.T) {
	w := newJobsWorld(t, `
[[jobs.handler]]
operation = "long"
exec = ["DIR/long.sh"]
`)
	w.script(t, "long.sh", `echo run >> DIR/runs; echo $$ > DIR/pid; exec sleep 600`)
	p := w.start(t)
	w.add(t, "upgrade", `{"operation":"long"}`)
	w.waitLines(t, "runs", 1)
	p.kill9(t)
	// The handler is in its own process group and outlives thingd, as on a device; stop it.
	w.waitLines(t, "pid", 1)
	if pid, err := strconv.Atoi(w.lines(t, "pid")[0]); err == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if e, _ := w.jobs.Execution("pi", "upgrade"); e.Status != awsiot.StatusInProgress {
		t.Fatalf("before the restart the job is %s", e.Status)
	}
	p = w.start(t)
	defer p.stop(t)
	e := w.wait(t, "upgrade", awsiot.StatusFailed)
	if !strings.Contains(e.StatusDetails["reason"], "interrupted") {
		t.Fatalf("statusDetails %v", e.StatusDetails)
	}
	if n := len(w.lines(t, "runs")); n != 1 {
		t.Fatalf("the handler ran %d times", n)
	}
}

// TestJobRebootSucceededAfterReboot: the AWS-Reboot template's document runs the reboot
// handler once; the job stays IN_PROGRESS until thingd starts on a new boot (the device
// lost power right after), and is then SUCCEEDED without running the handler again.
func TestJobRebootSucceededAfterReboot(t *testing.T) {
	w := newJobsWorld(t, `
[[jobs.handler]]
operation = "reboot.sh"
exec = ["DIR/reboot.sh"]
reboot = true
`)
	w.script(t, "reboot.sh", `echo run >> DIR/runs`)
	p := w.start(t)
	w.add(t, "reboot", `{"version":"1.0","steps":[{"action":{"name":"Reboot","type":"runHandler",
		"input":{"handler":"reboot.sh","path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}`)
	w.waitLines(t, "runs", 1)
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(w.tmp, "jobs.json"))
		if strings.Contains(string(b), `"rebooting"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job state never said rebooting: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill9(t)
	if e, _ := w.jobs.Execution("pi", "reboot"); e.Status != awsiot.StatusInProgress {
		t.Fatalf("before the reboot the job is %s", e.Status)
	}
	writeFile(t, filepath.Join(w.tmp, "boot_id"), "boot-2\n", 0o600)
	p = w.start(t)
	defer p.stop(t)
	w.wait(t, "reboot", awsiot.StatusSucceeded)
	if n := len(w.lines(t, "runs")); n != 1 {
		t.Fatalf("the reboot handler ran %d times", n)
	}
}

// TestJobTimedOutInTheCloudStopsTheHandler: a job whose in-progress timeout passes while its
// handler still runs becomes TIMED_OUT; thingd stops the handler (its whole process group),
// sends no late update, and runs the next job.
func TestJobTimedOutInTheCloudStopsTheHandler(t *testing.T) {
	w := newJobsWorldMinute(t, 1500*time.Millisecond, `
[[jobs.handler]]
operation = "hang"
exec = ["DIR/hang.sh"]
[[jobs.handler]]
operation = "quick"
exec = ["/bin/true"]
`)
	w.script(t, "hang.sh", `sleep 600 & echo $! > DIR/pid; wait`)
	p := w.start(t)
	defer p.stop(t)
	if err := w.jobs.AddJob("pi", "stuck", []byte(`{"operation":"hang"}`), awsiot.JobOptions{InProgressTimeoutMinutes: 1}); err != nil {
		t.Fatal(err)
	}
	w.add(t, "next", `{"operation":"quick"}`)
	w.waitLines(t, "pid", 1)
	pid, err := strconv.Atoi(w.lines(t, "pid")[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	e := w.wait(t, "stuck", awsiot.StatusTimedOut)
	w.wait(t, "next", awsiot.StatusSucceeded)
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the handler's child %d still runs after the job timed out", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e, _ = w.jobs.Execution("pi", "stuck"); len(e.Rejected) != 0 || e.Status != awsiot.StatusTimedOut {
		t.Fatalf("after the timeout: status %s, refused updates %v", e.Status, e.Rejected)
	}
}
