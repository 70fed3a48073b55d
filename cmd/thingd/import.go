package main

import (
	"context"
	"errors"
)

func importCmd(_ context.Context, _ *env, _ []string) error {
	return errors.New("import: not implemented yet")
}
