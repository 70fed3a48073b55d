package session

import (
	"testing"

	"go.uber.org/goleak"
)

// Run stops paho completely before it returns (paho's Disconnect returns once its goroutines
// are done), so no goroutine may outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
