package announce

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestParseCommunity(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Community
		err  bool
	}{
		{name: "standard", in: "65000:100", want: Community{Value: 65000<<16 | 100}},
		{name: "large", in: "large:4200000000:1:2", want: Community{Large: true, Global: 4200000000, Local1: 1, Local2: 2}},
		{name: "well-known", in: "no-export", want: Community{Value: 0xFFFFFF01}},
		{name: "graceful shutdown", in: "65535:0", want: GracefulShutdown},
		{name: "standard overflow", in: "65536:1", err: true},
		{name: "garbage", in: "a:b", err: true},
		{name: "large short", in: "large:1:2", err: true},
		{name: "empty", in: "", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommunity(tt.in)
			if tt.err {
				if !errors.Is(err, ErrBadCommunity) {
					t.Fatalf("ParseCommunity(%q) err = %v, want ErrBadCommunity", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCommunity(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if back, err := ParseCommunity(got.String()); err != nil || back != got {
				t.Fatalf("round trip of %v: %+v, %v", got, back, err)
			}
		})
	}
}

func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{"1:2", "large:1:2:3", "no-export", ":", "large:::", "65535:65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCommunity(s)
		if err != nil {
			return
		}
		back, err := ParseCommunity(c.String())
		if err != nil || back != c {
			t.Fatalf("%q -> %v -> %v, %v", s, c, back, err)
		}
	})
}

func TestPrefixes(t *testing.T) {
	addrs := []netip.Addr{
		netip.MustParseAddr("203.0.113.7"),
		netip.MustParseAddr("203.0.113.9"),
		netip.MustParseAddr("2001:db8::5"),
	}
	tests := []struct {
		name string
		adv  BGPAdvertisement
		want []string
	}{
		{name: "host routes", adv: BGPAdvertisement{}, want: []string{"203.0.113.7/32", "203.0.113.9/32", "2001:db8::5/128"}},
		{name: "aggregated", adv: BGPAdvertisement{AggregationLength: 24, AggregationLengthV6: 64}, want: []string{"203.0.113.0/24", "2001:db8::/64"}},
		{name: "out of range is host", adv: BGPAdvertisement{AggregationLength: 40}, want: []string{"203.0.113.7/32", "203.0.113.9/32", "2001:db8::5/128"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range tt.adv.Prefixes(addrs) {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Prefixes = %v, want %v", got, tt.want)
			}
		})
	}
}
