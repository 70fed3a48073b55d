package handler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An exec handler with MaxConcurrent 1 (config: concurrency = 1, the default) runs the
// commands one after another in the order it accepted them, even when a run takes a while.
func TestExecConcurrencyOneKeepsOrder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "seen")
	log, _ := observed()
	// A run that started later but ran faster would append first if runs overlapped.
	e := newExec(t, sh(`read n; sleep "0.0$(( (9 - n % 10) ))"; echo "$n" >> "$1"`, out),
		ExecOptions{Timeout: time.Minute, MaxConcurrent: 1, Logger: log})
	const n = 20
	for i := range n {
		if err := e.Accept(context.Background(), "cmd/x", []byte(fmt.Sprintln(i))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprint(i))
	}
	if got := strings.Fields(string(b)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("runs finished in order %v, want %v", got, want)
	}
}
