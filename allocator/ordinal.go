package allocator

import (
	"encoding/binary"
	"math/big"
	"net/netip"
)

// u128 is an unsigned 128-bit integer: an IPv6 address, or an IPv4 address
// in the low bits. Pools are searched in "ordinal" space: the position of
// an address among the addresses a pool may hand out. Without
// AvoidBuggyIPs the ordinal is the address itself; with it, IPv4 addresses
// ending in .0 and .255 have no ordinal and the others are numbered
// densely, so a pool never has to step over excluded addresses.
type u128 struct{ hi, lo uint64 }

var maxU128 = u128{^uint64(0), ^uint64(0)}

func (u u128) cmp(v u128) int {
	switch {
	case u.hi < v.hi:
		return -1
	case u.hi > v.hi:
		return 1
	case u.lo < v.lo:
		return -1
	case u.lo > v.lo:
		return 1
	}
	return 0
}

func (u u128) less(v u128) bool { return u.cmp(v) < 0 }

// add1 returns u+1; callers never pass maxU128.
func (u u128) add1() u128 {
	lo := u.lo + 1
	hi := u.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}

// sub1 returns u-1; callers never pass zero.
func (u u128) sub1() u128 {
	lo := u.lo - 1
	hi := u.hi
	if u.lo == 0 {
		hi--
	}
	return u128{hi, lo}
}

// sub returns u-v for u >= v.
func (u u128) sub(v u128) u128 {
	lo := u.lo - v.lo
	hi := u.hi - v.hi
	if u.lo < v.lo {
		hi--
	}
	return u128{hi, lo}
}

func (u u128) big() *big.Int {
	b := new(big.Int).SetUint64(u.hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(u.lo))
}

// familyOf returns the family of a valid address. IPv4-mapped IPv6
// addresses are IPv6.
func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// famIndex maps a family to 0 (IPv4) or 1 (IPv6).
func famIndex(f Family) int {
	if f == IPv6 {
		return 1
	}
	return 0
}

func otherFamily(f Family) Family {
	if f == IPv6 {
		return IPv4
	}
	return IPv6
}

// buggy reports whether a is an IPv4 address ending in .0 or .255, which
// confuse the smurf protection of some CPE firmware.
func buggy(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[3] == 0 || b[3] == 255
}

// ordOf returns a's ordinal; ok is false when avoid excludes a.
func ordOf(a netip.Addr, avoid bool) (o u128, ok bool) {
	if a.Is4() {
		b := a.As4()
		x := uint64(binary.BigEndian.Uint32(b[:]))
		if !avoid {
			return u128{0, x}, true
		}
		last := x & 0xff
		if last == 0 || last == 255 {
			return u128{}, false
		}
		return u128{0, (x>>8)*254 + last - 1}, true
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, true
}

// addrOf is the inverse of ordOf.
func addrOf(o u128, f Family, avoid bool) netip.Addr {
	if f == IPv4 {
		x := o.lo
		if avoid {
			x = (x/254)<<8 | (x%254 + 1)
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], o.hi)
	binary.BigEndian.PutUint64(b[8:], o.lo)
	return netip.AddrFrom16(b)
}

// ordRange is an inclusive range of ordinals.
type ordRange struct{ lo, hi u128 }

// ordRangeOf converts an address range of one family to ordinals; ok is
// false when avoid leaves nothing of it.
func ordRangeOf(from, to netip.Addr, avoid bool) (ordRange, bool) {
	if avoid && from.Is4() {
		// Move the bounds inwards onto addresses that have an ordinal.
		for buggy(from) {
			if from == to || !from.Next().IsValid() {
				return ordRange{}, false
			}
			from = from.Next()
		}
		for buggy(to) {
			if from == to || !to.Prev().IsValid() {
				return ordRange{}, false
			}
			to = to.Prev()
		}
		if to.Less(from) {
			return ordRange{}, false
		}
	}
	lo, _ := ordOf(from, avoid)
	hi, _ := ordOf(to, avoid)
	return ordRange{lo, hi}, true
}
