package main

import (
	"context"
	"errors"
	"log/slog"
)

// errSpeakerUnavailable is returned until package k8s/speaker exists.
var errSpeakerUnavailable = errors.New("speaker: not available yet (package k8s/speaker is not written yet)")

func runSpeaker(ctx context.Context, o speakerOptions, log *slog.Logger) error {
	return errSpeakerUnavailable
}
