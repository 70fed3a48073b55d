package main

import (
	"context"
	"errors"
)

func pubsubCmd(_ context.Context, _ *env, _ []string) error {
	return errors.New("pubsub: not implemented yet")
}
