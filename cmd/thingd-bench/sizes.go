package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binarySize is one stripped cross-build of cmd/thingd.
type binarySize struct {
	Name  string
	Bytes int64
}

// targets are the architectures thingd ships for; Go's arm with GOARM=6 runs on a Pi Zero/1.
var targets = []struct{ name, arch, arm string }{
	{"armv6", "arm", "6"}, {"armv7", "arm", "7"}, {"arm64", "arm64", ""}, {"amd64", "amd64", ""},
}

// binarySizes builds ./cmd/thingd for every target as a release would (CGO_ENABLED=0,
// -trimpath, -ldflags "-s -w") into a temp dir and returns the sizes.
func binarySizes(ctx context.Context) ([]binarySize, error) {
	root := commandLine("go", "env", "GOMOD")
	if root == "" || root == os.DevNull {
		return nil, fmt.Errorf("run thingd-bench from inside the thingd module (go env GOMOD is empty)")
	}
	dir, err := os.MkdirTemp("", "thingd-sizes-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out []binarySize
	for _, t := range targets {
		bin := filepath.Join(dir, t.name)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/thingd")
		cmd.Dir = filepath.Dir(root)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.arch)
		if t.arm != "" {
			cmd.Env = append(cmd.Env, "GOARM="+t.arm)
		}
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build thingd for %s: %w: %s", t.name, err, strings.TrimSpace(string(msg)))
		}
		st, err := os.Stat(bin)
		if err != nil {
			return nil, err
		}
		out = append(out, binarySize{Name: t.name, Bytes: st.Size()})
	}
	return out, nil
}
