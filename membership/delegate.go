package membership

import (
	"bytes"

	"github.com/hashicorp/memberlist"
)

// User messages between lbkit nodes: magic, kind, sender name.
const (
	msgLeaving byte = 1 // the sender is draining
	msgAck     byte = 2 // the sender processed our drain
	msgReclaim byte = 3 // the sender had dropped us and restored us
)

var msgMagic = []byte("lbk1")

func encodeMsg(kind byte, from string) []byte {
	b := append(append([]byte{}, msgMagic...), kind)
	return append(b, from...)
}

// decodeMsg parses a user message; ok is false for anything malformed.
func decodeMsg(b []byte) (kind byte, from string, ok bool) {
	if len(b) < len(msgMagic)+2 || !bytes.Equal(b[:len(msgMagic)], msgMagic) {
		return 0, "", false
	}
	kind = b[len(msgMagic)]
	if kind != msgLeaving && kind != msgAck && kind != msgReclaim {
		return 0, "", false
	}
	return kind, string(b[len(msgMagic)+1:]), true
}

// delegate receives memberlist's callbacks. They may run concurrently and
// under memberlist's locks, so they only update state and queue work.
type delegate struct{ m *Membership }

func (d *delegate) NodeMeta(limit int) []byte                  { return nil }
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

func (d *delegate) NotifyMsg(b []byte) {
	kind, from, ok := decodeMsg(b)
	m := d.m
	if !ok || from == m.cfg.Name {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch kind {
	case msgLeaving:
		if !m.leaving[from] {
			m.leaving[from] = true
			m.log.Info("peer is draining", "peer", from)
			m.enqueue(item{ev: Event{Kind: Changed, Node: from}})
		}
		// Queued behind the event, so sent after subscribers handled it.
		m.enqueue(item{ackTo: from})
	case msgReclaim:
		m.log.Info("peer restored us after dropping us", "peer", from)
		m.enqueue(item{ev: Event{Kind: Reclaim, Node: from}})
	case msgAck:
		if m.acks != nil {
			m.acks[from] = true
			select {
			case m.ackWake <- struct{}{}:
			default:
			}
		}
	}
}

func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.notify(Joined, n.Name) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.notify(Left, n.Name) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.notify(Changed, n.Name) }

func (d *delegate) notify(k EventKind, name string) {
	m := d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if k != Changed {
		// A node that rejoins or is gone starts with a clean slate.
		delete(m.leaving, name)
		delete(m.down, name)
	}
	m.log.Info("member "+k.String(), "peer", name)
	m.enqueue(item{ev: Event{Kind: k, Node: name}})
}
