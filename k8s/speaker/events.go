package speaker

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
)

// limitedSink paces the events a speaker writes, as the kubelet's
// --event-qps does: every node emits an event per service it announces,
// and a burst of services must not turn into an event storm that starves
// the API server. Events wait in the broadcaster's queue (which drops
// beyond its bound, as client-go does for any slow sink).
type limitedSink struct {
	sink    record.EventSink
	limiter flowcontrol.RateLimiter
	ctx     context.Context
}

func (s *limitedSink) wait() bool { return s.limiter.Wait(s.ctx) == nil }

func (s *limitedSink) Create(e *corev1.Event) (*corev1.Event, error) {
	if !s.wait() {
		return nil, s.ctx.Err()
	}
	return s.sink.Create(e)
}

func (s *limitedSink) Update(e *corev1.Event) (*corev1.Event, error) {
	if !s.wait() {
		return nil, s.ctx.Err()
	}
	return s.sink.Update(e)
}

func (s *limitedSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	if !s.wait() {
		return nil, s.ctx.Err()
	}
	return s.sink.Patch(e, data)
}
