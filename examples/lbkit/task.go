package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// task runs one long-lived part of a command under a context of its own,
// so that a command can stop its parts in a chosen order.
type task struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// startTask runs f on a new goroutine. If f fails, or returns before its
// context is done, the error is sent to failed, which must have room for
// one error per task.
func startTask(name string, failed chan<- error, f func(context.Context) error) *task {
	ctx, cancel := context.WithCancel(context.Background())
	t := &task{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		err := f(ctx)
		if err == nil && ctx.Err() == nil {
			err = errors.New("stopped unexpectedly")
		}
		if err != nil && ctx.Err() == nil {
			failed <- fmt.Errorf("%s: %w", name, err)
		}
	}()
	return t
}

// stop cancels the task and waits for it to return; its failure, if it
// failed while running, is on the failed channel. A nil task is stopped.
func (t *task) stop() {
	if t == nil {
		return
	}
	t.cancel()
	<-t.done
}

// runTogether runs fns until ctx is done or one of them returns, then
// stops the others and returns their failures. Returning before ctx is
// done is a failure.
func runTogether(ctx context.Context, fns ...func(context.Context) error) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, f := range fns {
		wg.Go(func() {
			defer cancel()
			errs[i] = f(wctx)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil // a stop, not a failure
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return errors.New("stopped unexpectedly")
}
