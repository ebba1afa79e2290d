package main

import (
	"context"
	"log/slog"
)

// demo runs the lab demo. Until the lab exists it runs the allocator example.
func demo(ctx context.Context, log *slog.Logger, args []string) error {
	return allocatorDemo(ctx, log)
}
