package human

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                          "0s",
		1234567 * time.Nanosecond:  "1.235ms",
		12*time.Second + 345678901: "12.346s",
		-90 * time.Second:          "1m30s",
		5*time.Hour + 3*time.Minute + 29*time.Second + 600*time.Millisecond: "5h3m30s",
		50 * time.Hour:             "2 days 2h",
		1095 * 24 * time.Hour:      "1095 days",
		(1095*24 + 13) * time.Hour: "1096 days",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSigned(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		100 * time.Nanosecond:   "0s",
		1500 * time.Microsecond: "+1.5ms",
		-2 * time.Second:        "-2s",
	} {
		if got := Signed(d); got != want {
			t.Errorf("Signed(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                              "plain",
		"clock synced\nqueue 3\r\nREADY=1\r": "clock synced queue 3 READY=1",
		"tab\there\x00nul\x1b[31m":           "tab here nul [31m",
		"\n  padded  \n":                     "padded",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
