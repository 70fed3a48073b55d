package handler

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a run's goroutine (or a process waiter) outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
