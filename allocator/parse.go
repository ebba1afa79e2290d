package allocator

import (
	"fmt"
	"net/netip"
	"strings"

	"go4.org/netipx"
)

// ParsePoolAddresses parses the address strings of a MetalLB
// IPAddressPool: each is a CIDR ("192.168.10.0/24", "fc00::/124"; host
// bits are masked off, as MetalLB does), a range "from-to" of one family
// with from <= to (spaces around the dash are allowed), or a single
// address. Errors wrap ErrInvalidPool and quote the offending string.
func ParsePoolAddresses(addrs []string) ([]netipx.IPRange, error) {
	out := make([]netipx.IPRange, 0, len(addrs))
	for _, s := range addrs {
		r, err := parsePoolAddress(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parsePoolAddress(s string) (netipx.IPRange, error) {
	bad := func(format string, args ...any) (netipx.IPRange, error) {
		return netipx.IPRange{}, fmt.Errorf("%w: address %q: %s", ErrInvalidPool, s, fmt.Sprintf(format, args...))
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return bad("empty")
	}
	if strings.Contains(t, "/") {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return bad("not a CIDR: %v", err)
		}
		return netipx.RangeOfPrefix(p.Masked()), nil
	}
	if from, to, ok := strings.Cut(t, "-"); ok {
		f, err := parseAddr(strings.TrimSpace(from))
		if err != nil {
			return bad("range start: %v", err)
		}
		l, err := parseAddr(strings.TrimSpace(to))
		if err != nil {
			return bad("range end: %v", err)
		}
		if f.Is4() != l.Is4() {
			return bad("range mixes IPv4 and IPv6")
		}
		if l.Less(f) {
			return bad("range start %s is after its end %s", f, l)
		}
		return netipx.IPRangeFrom(f, l), nil
	}
	ad, err := parseAddr(t)
	if err != nil {
		return bad("%v", err)
	}
	return netipx.IPRangeFrom(ad, ad), nil
}

func parseAddr(s string) (netip.Addr, error) {
	ad, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if ad.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zoned address %s", ad)
	}
	return ad, nil
}
