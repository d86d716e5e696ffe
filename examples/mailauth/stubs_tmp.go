package main

import (
	"context"
	"errors"
)

var errServerNotVerified = errors.New("server not verified")

func runLogin(ctx context.Context, c *cli, args []string) error { return nil }
func runProbe(ctx context.Context, c *cli, args []string) error { return nil }
func runBench(ctx context.Context, c *cli, args []string) error { return nil }
