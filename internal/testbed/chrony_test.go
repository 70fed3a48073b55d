package testbed_test

import (
	"testing"
	"time"

	"github.com/beevik/ntp"

	"thingd/internal/testbed"
)

// chronyd answers a real NTP query on loopback with a response that passes Validate and
// carries this machine's time.
func TestChrony(t *testing.T) {
	c := testbed.StartChrony(t, testbed.ChronyOptions{})
	resp := query(t, c)
	if resp.Stratum != 8 {
		t.Errorf("stratum %d, want 8 (local stratum 8)", resp.Stratum)
	}
	if off := resp.ClockOffset.Abs(); off > time.Minute {
		t.Errorf("clock offset %v, want about zero against this machine's own clock", resp.ClockOffset)
	}
}

func query(t *testing.T, c *testbed.Chrony) *ntp.Response {
	t.Helper()
	resp, err := ntp.QueryWithOptions(c.Addr, ntp.QueryOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("NTP query to %s: %v", c.Addr, err)
	}
	if err := resp.Validate(); err != nil {
		t.Fatalf("NTP response from %s fails Validate: %v (leap %v, stratum %d)", c.Addr, err, resp.Leap, resp.Stratum)
	}
	return resp
}
