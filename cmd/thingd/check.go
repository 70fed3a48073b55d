package main

import (
	"context"
	"errors"
)

func checkCmd(_ context.Context, _ *env, _ []string) error {
	return errors.New("check: not implemented yet")
}
