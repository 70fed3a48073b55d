package main

import (
	"context"
	"errors"
)

func pubCmd(_ context.Context, _ *env, _ []string) error {
	return errors.New("pub: not implemented yet")
}
