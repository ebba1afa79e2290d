package allocator_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/lbkit/lbkit/allocator"
)

func benchAllocator(b *testing.B, cidr string) *allocator.Allocator {
	b.Helper()
	a := allocator.New(allocator.Config{})
	if _, err := a.SetPools([]allocator.Pool{{Name: "p", Addresses: ranges(b, cidr), AutoAssign: true}}); err != nil {
		b.Fatal(err)
	}
	return a
}

func serviceNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ns-%d/svc-%d", i%100, i)
	}
	return names
}

// BenchmarkAllocate allocates n distinct services into an empty allocator
// per iteration; ns/alloc is the cost of one allocation.
func BenchmarkAllocate(b *testing.B) {
	for _, fam := range []struct {
		name, cidr string
		primary    allocator.Family
	}{{"ipv4", "10.0.0.0/8", allocator.IPv4}, {"ipv6", "fd00:1:2:3::/64", allocator.IPv6}} {
		for _, n := range []int{1000, 1000000} {
			b.Run(fmt.Sprintf("%s/n=%d", fam.name, n), func(b *testing.B) {
				names := serviceNames(n)
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					a := benchAllocator(b, fam.cidr)
					b.StartTimer()
					for _, name := range names {
						if _, err := a.Allocate(allocator.Request{Service: name, Families: allocator.FamilyPolicy{Primary: fam.primary}}); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/alloc")
			})
		}
	}
}

// BenchmarkChurn keeps a /16 90% full: each op releases a random service
// and allocates a new one, which takes the freed address.
func BenchmarkChurn(b *testing.B) {
	a := benchAllocator(b, "10.0.0.0/16")
	n := 65536 * 9 / 10
	names := serviceNames(n)
	for _, name := range names {
		if _, err := a.Allocate(allocator.Request{Service: name}); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for range b.N {
		i := rng.IntN(n)
		a.Release(names[i])
		if _, err := a.Allocate(allocator.Request{Service: names[i]}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "churn/s")
}

// BenchmarkAssignSpecific restores services onto given addresses (the
// restart path) in a /8 holding 100,000 services, then releases them.
func BenchmarkAssignSpecific(b *testing.B) {
	a := benchAllocator(b, "10.0.0.0/8")
	names := serviceNames(100000)
	rng := rand.New(rand.NewPCG(2, 2))
	for _, name := range names {
		ad := netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		if _, err := a.Assign(allocator.Request{Service: name}, []netip.Addr{ad}); err != nil {
			// A random collision: leave that service out.
			continue
		}
	}
	targets := make([]netip.Addr, 4096)
	for i := range targets {
		for {
			ad := netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			if len(a.Holders(ad)) == 0 {
				targets[i] = ad
				break
			}
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := a.Assign(allocator.Request{Service: "restored"}, targets[i%len(targets):i%len(targets)+1]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	a.Release("restored")
}
