package speaker

import (
	"context"
	"sync"

	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
)

// statusQueue decouples the status objects from announcing: workers
// record the latest state of a service here and go on, and one goroutine
// writes ServiceL2Status / ServiceBGPStatus objects at a bounded rate. On a
// burst of services the API server's capacity goes to the data path
// (Service status, announcements) first; status objects follow, and every
// service's objects end up matching its latest state.
type statusQueue struct {
	queue   workqueue.TypedRateLimitingInterface[string]
	limiter flowcontrol.RateLimiter

	mu     sync.Mutex
	latest map[string]statusItem // guarded by mu
}

// statusItem is the state a service's status objects should show.
type statusItem struct {
	st    svcState
	alive []string
}

func newStatusQueue(qps float32, burst int) *statusQueue {
	return &statusQueue{
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "lbkit-speaker-status"},
		),
		limiter: flowcontrol.NewTokenBucketRateLimiter(qps, burst),
		latest:  map[string]statusItem{},
	}
}

// set records what key's status objects should show and queues a write.
func (q *statusQueue) set(key string, st svcState, alive []string) {
	q.mu.Lock()
	q.latest[key] = statusItem{st: st, alive: alive}
	q.mu.Unlock()
	q.queue.Add(key)
}

// run writes queued status until the queue shuts down.
func (q *statusQueue) run(ctx context.Context, s *Speaker) {
	for {
		key, quit := q.queue.Get()
		if quit {
			return
		}
		if err := q.limiter.Wait(ctx); err != nil {
			q.queue.Done(key)
			return
		}
		q.mu.Lock()
		item := q.latest[key]
		q.mu.Unlock()
		if err := s.status.sync(ctx, key, item.st, item.alive); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("cannot write status objects; retrying", "service", key, "error", err)
				q.queue.AddRateLimited(key)
			}
		} else {
			q.queue.Forget(key)
			q.mu.Lock()
			if cur, ok := q.latest[key]; ok && cur.st.empty() {
				delete(q.latest, key)
			}
			q.mu.Unlock()
		}
		q.queue.Done(key)
	}
}
