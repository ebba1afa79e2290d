package membership

import (
	"context"
	"slices"
	"sync"
	"time"
)

// maxInflight bounds concurrent pings per watched node.
const maxInflight = 8

// minLost is how many pings sent after the last ack must have failed
// before a watched node is declared dead.
const minLost = 3

type watched struct {
	lastAck   time.Time // last ack, or when watching (re)started
	lost      int       // pings sent after lastAck that failed
	inflight  int
	recovered time.Time // dropped node: start of its unbroken run of acks
}

type pingResult struct {
	name   string
	sentAt time.Time
	ok     bool
}

// watchLoop pings watched and dropped nodes and updates m.down.
func (m *Membership) watchLoop(ctx context.Context) {
	interval := m.cfg.WatchInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	results := make(chan pingResult, 64)
	var wg sync.WaitGroup
	defer wg.Wait()
	state := make(map[string]*watched)
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-results:
			w := state[r.name]
			if w == nil {
				continue
			}
			w.inflight--
			now := time.Now()
			if r.ok {
				w.lastAck, w.lost = now, 0
				if w.recovered.IsZero() {
					w.recovered = now
				}
			} else {
				if r.sentAt.After(w.lastAck) {
					w.lost++
				}
				w.recovered = time.Time{}
			}
			continue
		case <-t.C:
		}
		now := time.Now()
		stalled := now.Sub(last) > 3*interval
		last = now

		m.mu.Lock()
		targets := slices.Clone(m.watch)
		for n := range m.down {
			if !slices.Contains(targets, n) {
				targets = append(targets, n)
			}
		}
		m.mu.Unlock()
		for name := range state {
			if !slices.Contains(targets, name) && state[name].inflight == 0 {
				delete(state, name)
			}
		}
		for _, name := range targets {
			w := state[name]
			if w == nil {
				w = &watched{lastAck: now}
				state[name] = w
			}
			if stalled {
				// Our own ticks came late: we cannot tell a dead peer from
				// a stalled self, so start over rather than judge.
				w.lastAck, w.lost = now, 0
			}
			if m.judge(name, w, now) {
				// It may have lost its addresses' caches to us meanwhile.
				m.send(name, msgReclaim)
			}
			if w.inflight < maxInflight {
				w.inflight++
				wg.Add(1)
				go func() {
					defer wg.Done()
					sent := time.Now()
					_, err := m.ping(name)
					select {
					case results <- pingResult{name: name, sentAt: sent, ok: err == nil}:
					case <-ctx.Done():
					}
				}()
			}
		}
	}
}

// judge drops a silent watched node from the alive view, or restores a
// dropped one that answered for RecoverAfter and then reports true.
func (m *Membership) judge(name string, w *watched, now time.Time) (restored bool) {
	member := m.node(name) != nil
	m.mu.Lock()
	defer m.mu.Unlock()
	isDown := m.down[name]
	switch {
	case !isDown && now.Sub(w.lastAck) > m.cfg.WatchTimeout && w.lost >= minLost:
		if !member {
			return false
		}
		m.down[name] = true
		w.recovered = time.Time{}
		m.log.Warn("watched node silent, dropping it", "peer", name, "silent", now.Sub(w.lastAck).Round(time.Millisecond))
		m.enqueue(item{ev: Event{Kind: Changed, Node: name}})
		return false
	case isDown && !w.recovered.IsZero() && now.Sub(w.recovered) >= m.cfg.RecoverAfter:
		delete(m.down, name)
		m.log.Info("dropped node answers again, restoring it", "peer", name)
		m.enqueue(item{ev: Event{Kind: Changed, Node: name}})
		return true
	}
	return false
}
