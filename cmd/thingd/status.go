package main

import (
	"context"
	"errors"
)

func statusCmd(_ context.Context, _ *env, _ []string) error {
	return errors.New("status: not implemented yet")
}
