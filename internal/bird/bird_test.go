package bird

import (
	"net/netip"
	"testing"
)

func TestParseRoutes(t *testing.T) {
	out := `BIRD 2.0.12 ready.
Table master4:
203.0.113.10/32      unicast [node1 19:05:01.123] * (100) [AS64512i]
	via 192.0.2.11 on eth0
                     unicast [node2 19:05:01.456] (100) [AS64512i]
	via 192.0.2.12 on eth0
203.0.113.20/32      unicast [node1 19:05:02.000] * (100) [AS64512i]
	via 192.0.2.11 on eth0
`
	m := ParseRoutes(out)
	p := m[netip.MustParsePrefix("203.0.113.10/32")]
	if len(p) != 2 || p[0].Protocol != "node1" || !p[0].Primary || p[1].Via != netip.MustParseAddr("192.0.2.12") || p[1].Primary {
		t.Errorf("paths = %+v", p)
	}
	if len(m) != 2 {
		t.Errorf("prefixes = %v", m)
	}
}
