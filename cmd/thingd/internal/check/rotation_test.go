package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"thingd/daemon/config"
)

// A provisioned device's certificate step says when rotation is due and how the last one went.
func TestRotationState(t *testing.T) {
	p := config.Provisioning{Template: "fleet", Dir: t.TempDir(), RotateBefore: config.Duration(30 * 24 * time.Hour)}
	notAfter := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
	got := rotationState(&p, notAfter, map[string]any{})
	if !strings.Contains(got, "rotation due "+stamp(notAfter.Add(-30*24*time.Hour))) || !strings.Contains(got, "never rotated") {
		t.Errorf("before any rotation: %q", got)
	}
	doc := `{"state":"rolled back","at":"2026-12-01T10:00:00Z","reason":"command","error":"the broker refused the new certificate"}`
	if err := os.WriteFile(filepath.Join(p.Dir, "rotation.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	data := map[string]any{}
	got = rotationState(&p, notAfter, data)
	if !strings.Contains(got, "last rotation rolled back at") || !strings.Contains(got, "the broker refused the new certificate") || data["rotation"] == nil {
		t.Errorf("after a failed rotation: %q, data %v", got, data)
	}
	p.RotateBefore = 0
	if got := rotationState(&p, notAfter, map[string]any{}); !strings.Contains(got, "only on `thingd rotate`") {
		t.Errorf("with rotate_before 0: %q", got)
	}
}
