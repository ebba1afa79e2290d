package allocator_test

import (
	"errors"
	"testing"

	"github.com/lbkit/lbkit/allocator"
)

func FuzzParsePoolAddresses(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1-10.0.0.9", "fc00::/124", "fc00::1 - fc00::2", "1.2.3.4", "::ffff:1.2.3.4-::ffff:1.2.3.5", "1.2.3.4-", "/", "-", "fe80::1%eth0/64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := allocator.ParsePoolAddresses([]string{s})
		if err != nil {
			if !errors.Is(err, allocator.ErrInvalidPool) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidPool", s, err)
			}
			return
		}
		if len(rs) != 1 || !rs[0].IsValid() {
			t.Fatalf("%q: parsed to invalid %v", s, rs)
		}
		again, err := allocator.ParsePoolAddresses([]string{rs[0].String()})
		if err != nil || again[0] != rs[0] {
			t.Fatalf("%q: %v does not round-trip: %v, %v", s, rs[0], again, err)
		}
	})
}
