package testbed_test

import (
	"testing"

	"go.uber.org/goleak"

	"thingd/internal/testbed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testbed.LeakOptions()...)
}
