package announce

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadCommunity reports a community string that does not parse.
var ErrBadCommunity = errors.New("announce: bad community")

// Community is a BGP standard community (RFC 1997) or large community
// (RFC 8092). The zero value is the standard community 0:0.
type Community struct {
	// Large is true for a large community (Global:Local1:Local2).
	Large bool
	// For a standard community, Value is ASN<<16 | value.
	Value uint32
	// For a large community: global administrator and two local parts.
	Global, Local1, Local2 uint32
}

// Well-known standard communities (RFC 1997, RFC 7999, RFC 8326).
var wellKnown = map[string]uint32{
	"no-export":           0xFFFFFF01,
	"no-advertise":        0xFFFFFF02,
	"no-export-subconfed": 0xFFFFFF03,
	"local-as":            0xFFFFFF03,
	"no-peer":             0xFFFFFF04,
	"blackhole":           0xFFFF029A,
	"graceful-shutdown":   0xFFFF0000,
	"accept-own":          0xFFFF0001,
	"llgr-stale":          0xFFFF0006,
	"no-llgr":             0xFFFF0007,
}

// GracefulShutdown is the GRACEFUL_SHUTDOWN community 65535:0 (RFC 8326).
var GracefulShutdown = Community{Value: 0xFFFF0000}

// ParseCommunity parses "a:b" (two 16-bit numbers), "large:a:b:c" (three
// 32-bit numbers) or a well-known name such as "no-export".
func ParseCommunity(s string) (Community, error) {
	in := strings.TrimSpace(s)
	if v, ok := wellKnown[strings.ToLower(in)]; ok {
		return Community{Value: v}, nil
	}
	parts := strings.Split(in, ":")
	switch {
	case len(parts) == 4 && strings.EqualFold(parts[0], "large"):
		var n [3]uint32
		for i, p := range parts[1:] {
			v, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return Community{}, fmt.Errorf("%w %q: large community part %q is not a 32-bit number", ErrBadCommunity, s, p)
			}
			n[i] = uint32(v)
		}
		return Community{Large: true, Global: n[0], Local1: n[1], Local2: n[2]}, nil
	case len(parts) == 2:
		var n [2]uint32
		for i, p := range parts {
			v, err := strconv.ParseUint(p, 10, 16)
			if err != nil {
				return Community{}, fmt.Errorf("%w %q: part %q is not a 16-bit number", ErrBadCommunity, s, p)
			}
			n[i] = uint32(v)
		}
		return Community{Value: n[0]<<16 | n[1]}, nil
	}
	return Community{}, fmt.Errorf("%w %q: want a:b, large:a:b:c or a well-known name", ErrBadCommunity, s)
}

// String formats c as ParseCommunity accepts it ("a:b" or "large:a:b:c").
func (c Community) String() string {
	if c.Large {
		return fmt.Sprintf("large:%d:%d:%d", c.Global, c.Local1, c.Local2)
	}
	return fmt.Sprintf("%d:%d", c.Value>>16, c.Value&0xFFFF)
}
