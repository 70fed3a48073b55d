package handler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"

	"thingd/internal/atomicfile"
)

// fileMode is the mode of a file written by File: the thingd user writes, its group may read.
const fileMode = 0o640

// File replaces one file with each message's payload. Readers see the old content or the new
// one, never a mix or a truncated file: the payload goes to a temporary file in the same
// directory, which is fsynced and renamed over the target, and then the directory is fsynced
// so the rename survives a power cut.
type File struct {
	path string
	log  *zap.Logger

	mu     sync.Mutex // one write at a time, so messages land in the order they were accepted
	closed bool
}

// NewFile checks that path is absolute and that its directory exists; the file itself may not
// exist yet.
func NewFile(path string, log *zap.Logger) (*File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("file handler: path %q is relative; use an absolute path in [[subscribe]] file", path)
	}
	path = filepath.Clean(path)
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("file handler %s: directory %s: %w (create it and let the thingd user write to it)", path, dir, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("file handler %s: %s is not a directory; fix [[subscribe]] file", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("file handler %s: is a directory; [[subscribe]] file must name a file", path)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &File{path: path, log: log.With(zap.String("component", "handler"), zap.String("file", path))}, nil
}

// Accept replaces the file with payload and returns once the new content and the rename are on
// disk. It is the same as Handle: there is nothing left to do in the background.
func (f *File) Accept(ctx context.Context, topic string, payload []byte) error {
	return f.Handle(ctx, topic, payload)
}

// Handle replaces the file with payload, mode 0640, durably.
func (f *File) Handle(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if err := atomicfile.Write(f.path, payload, fileMode); err != nil {
		return fmt.Errorf("file handler for topic %q: %w", topic, err)
	}
	f.log.Info("file replaced", zap.String("topic", topic), zap.Int("bytes", len(payload)))
	return nil
}

// Close stops further writes; it returns once a write in progress has finished.
func (f *File) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
