package provision

import (
	"testing"

	"go.uber.org/goleak"
)

// Run ends its claim session before it returns; no goroutine may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
