package awsiot

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Job execution statuses (API reference, JobExecutionState).
const (
	StatusQueued     = "QUEUED"
	StatusInProgress = "IN_PROGRESS"
	StatusSucceeded  = "SUCCEEDED"
	StatusFailed     = "FAILED"
	StatusTimedOut   = "TIMED_OUT"
	StatusRejected   = "REJECTED"
	StatusRemoved    = "REMOVED"
	StatusCanceled   = "CANCELED"
)

// AWS IoT Jobs limits the service enforces on what a device sends (API reference,
// UpdateJobExecution and JobExecutionState).
const (
	MaxStatusDetails        = 10   // name/value pairs
	MaxStatusDetailKey      = 128  // characters, [a-zA-Z0-9:_-]+
	MaxStatusDetailValue    = 1024 // characters, no control characters ([^\p{C}]+)
	MaxStepTimeoutInMinutes = 10080
)

var statusDetailKey = regexp.MustCompile(`^[a-zA-Z0-9:_-]+$`)

// Execution is one job's execution on one thing, as the Jobs service keeps it.
type Execution struct {
	JobID           string
	ThingName       string
	Document        json.RawMessage
	Status          string
	StatusDetails   map[string]string
	QueuedAt        time.Time
	StartedAt       time.Time
	LastUpdatedAt   time.Time
	VersionNumber   int64
	ExecutionNumber int64
	// History is every status the execution took, the first being QUEUED; an accepted
	// update to the same status (IN_PROGRESS progress) is listed again.
	History []string
	// Rejected lists the error codes of the updates refused for this execution.
	Rejected []string

	inProgressTO int       // job-level in-progress timeout, minutes; 0 none
	jobDeadline  time.Time // from inProgressTO, set when it goes IN_PROGRESS
	stepDeadline time.Time // from stepTimeoutInMinutes; zero none
}

func terminal(status string) bool {
	switch status {
	case StatusQueued, StatusInProgress:
		return false
	}
	return true
}

// deadline is when the execution times out, or zero.
func (e *Execution) deadline() time.Time {
	d := e.jobDeadline
	if !e.stepDeadline.IsZero() && (d.IsZero() || e.stepDeadline.Before(d)) {
		d = e.stepDeadline
	}
	return d
}

// wire is the JobExecution data type of the MQTT API.
type wireExecution struct {
	JobID                            string            `json:"jobId"`
	ThingName                        string            `json:"thingName"`
	JobDocument                      json.RawMessage   `json:"jobDocument,omitempty"`
	Status                           string            `json:"status"`
	StatusDetails                    map[string]string `json:"statusDetails,omitempty"`
	QueuedAt                         int64             `json:"queuedAt"`
	StartedAt                        int64             `json:"startedAt,omitempty"`
	LastUpdatedAt                    int64             `json:"lastUpdatedAt"`
	ApproximateSecondsBeforeTimedOut int64             `json:"approximateSecondsBeforeTimedOut,omitempty"`
	VersionNumber                    int64             `json:"versionNumber"`
	ExecutionNumber                  int64             `json:"executionNumber"`
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (e *Execution) wire(now time.Time, withDoc bool) wireExecution {
	w := wireExecution{
		JobID: e.JobID, ThingName: e.ThingName, Status: e.Status, StatusDetails: e.StatusDetails,
		QueuedAt: unix(e.QueuedAt), StartedAt: unix(e.StartedAt), LastUpdatedAt: unix(e.LastUpdatedAt),
		VersionNumber: e.VersionNumber, ExecutionNumber: e.ExecutionNumber,
	}
	if withDoc {
		w.JobDocument = e.Document
	}
	// Wall-clock seconds (rounded up), even when the test shortens the minute, so that a
	// device can hold its own handler to the deadline.
	if d := e.deadline(); !d.IsZero() && e.Status == StatusInProgress {
		w.ApproximateSecondsBeforeTimedOut = max(1, int64((d.Sub(now)+time.Second-1)/time.Second))
	}
	return w
}

type wireSummary struct {
	JobID           string `json:"jobId"`
	QueuedAt        int64  `json:"queuedAt"`
	StartedAt       int64  `json:"startedAt,omitempty"`
	LastUpdatedAt   int64  `json:"lastUpdatedAt"`
	VersionNumber   int64  `json:"versionNumber"`
	ExecutionNumber int64  `json:"executionNumber"`
}

func (e *Execution) summary() wireSummary {
	return wireSummary{JobID: e.JobID, QueuedAt: unix(e.QueuedAt), StartedAt: unix(e.StartedAt),
		LastUpdatedAt: unix(e.LastUpdatedAt), VersionNumber: e.VersionNumber, ExecutionNumber: e.ExecutionNumber}
}

type wireState struct {
	Status        string            `json:"status"`
	StatusDetails map[string]string `json:"statusDetails,omitempty"`
	VersionNumber int64             `json:"versionNumber"`
}

func (e *Execution) state() *wireState {
	return &wireState{Status: e.Status, StatusDetails: e.StatusDetails, VersionNumber: e.VersionNumber}
}

// jobsError is the ErrorResponse of the MQTT API, published on .../rejected.
type jobsError struct {
	Code           string     `json:"code"`
	Message        string     `json:"message"`
	ClientToken    string     `json:"clientToken,omitempty"`
	Timestamp      int64      `json:"timestamp"`
	ExecutionState *wireState `json:"executionState,omitempty"`
}

func (e *jobsError) Error() string { return e.Code + ": " + e.Message }

func reject(code, format string, a ...any) *jobsError {
	return &jobsError{Code: code, Message: fmt.Sprintf(format, a...)}
}

// checkStatusDetails applies AWS's limits on statusDetails.
func checkStatusDetails(d map[string]string) *jobsError {
	if len(d) > MaxStatusDetails {
		return reject("InvalidRequest", "statusDetails has %d entries; at most %d are allowed", len(d), MaxStatusDetails)
	}
	for k, v := range d {
		if utf8.RuneCountInString(k) > MaxStatusDetailKey || !statusDetailKey.MatchString(k) {
			return reject("InvalidRequest", "statusDetails key %q must be 1..%d of [a-zA-Z0-9:_-]", k, MaxStatusDetailKey)
		}
		n := utf8.RuneCountInString(v)
		if n == 0 || n > MaxStatusDetailValue {
			return reject("InvalidRequest", "statusDetails value of %q is %d characters; 1..%d are allowed", k, n, MaxStatusDetailValue)
		}
		if !utf8.ValidString(v) || strings.IndexFunc(v, func(r rune) bool { return unicode.Is(unicode.C, r) }) >= 0 {
			return reject("InvalidRequest", "statusDetails value of %q contains control characters", k)
		}
	}
	return nil
}
