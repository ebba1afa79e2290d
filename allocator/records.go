package allocator

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
)

// ip is an unzoned netip.Addr without its pointer: netip.Addr carries a
// zone handle the garbage collector would have to visit in every record
// and index entry. An IPv4 address is kept in the low 32 bits of u.
type ip struct {
	u  u128
	v6 bool
}

func ipOf(a netip.Addr) ip {
	if a.Is4() {
		b := a.As4()
		return ip{u: u128{0, uint64(binary.BigEndian.Uint32(b[:]))}}
	}
	b := a.As16()
	return ip{u: u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, v6: true}
}

func (x ip) addr() netip.Addr {
	if !x.v6 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.u.hi)
	binary.BigEndian.PutUint64(b[8:], x.u.lo)
	return netip.AddrFrom16(b)
}

func (x ip) family() Family {
	if x.v6 {
		return IPv6
	}
	return IPv4
}

// ref names a record slot; 0 is no record.
type ref int32

// Records live in fixed-size chunks that never move, so a *record stays
// valid while its slot is in use, and the indexes below map to refs
// instead of pointers: they hold nothing the garbage collector must scan.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

// records stores the held records and indexes them by service key and by
// address. Its zero value is empty and ready to use.
type records struct {
	chunks []*[chunkSize]record
	used   int   // slots handed out from chunks, used or freed
	free   []ref // freed slots, reused first
	live   int
	seed   maphash.Seed
	seeded bool
	// byName maps the hash of a service key to its record; records with
	// the same hash chain through record.hnext.
	byName map[uint64]ref
	// held4 and held6 map a held address to the first of its holders;
	// the others chain through record.next, sorted by service.
	held4 map[uint32]ref
	held6 map[u128]ref
}

// at returns the record in slot r, which must be non-zero.
func (rs *records) at(r ref) *record {
	i := int(r - 1)
	return &rs.chunks[i>>chunkBits][i&(chunkSize-1)]
}

func (rs *records) hash(service string) uint64 {
	if !rs.seeded {
		rs.seed, rs.seeded = maphash.MakeSeed(), true
	}
	return maphash.String(rs.seed, service)
}

// find returns the record of service, or 0, and the hash of service for
// add and remove.
func (rs *records) find(service string) (ref, uint64) {
	h := rs.hash(service)
	if len(rs.byName) == 0 {
		return 0, h
	}
	for r := rs.byName[h]; r != 0; r = rs.at(r).hnext {
		if rs.at(r).service == service {
			return r, h
		}
	}
	return 0, h
}

// add stores a copy of src (which must not be stored yet) and indexes it
// under h, the hash of its service key; the caller links its addresses.
func (rs *records) add(src *record, h uint64) ref {
	var r ref
	if n := len(rs.free); n > 0 {
		r = rs.free[n-1]
		rs.free = rs.free[:n-1]
	} else {
		if rs.used == len(rs.chunks)*chunkSize {
			rs.chunks = append(rs.chunks, new([chunkSize]record))
		}
		rs.used++
		r = ref(rs.used)
	}
	rec := rs.at(r)
	*rec = *src
	rec.next = [2]ref{}
	if rs.byName == nil {
		rs.byName = make(map[uint64]ref)
	}
	rec.hnext = rs.byName[h]
	rs.byName[h] = r
	rs.live++
	return r
}

// remove drops the record in slot r, whose service key hashes to h, from
// the service index and frees the slot; the caller has unlinked its
// addresses.
func (rs *records) remove(r ref, h uint64) {
	rec := rs.at(r)
	if head := rs.byName[h]; head == r {
		if rec.hnext == 0 {
			delete(rs.byName, h)
		} else {
			rs.byName[h] = rec.hnext
		}
	} else {
		for p := head; p != 0; p = rs.at(p).hnext {
			if q := rs.at(p); q.hnext == r {
				q.hnext = rec.hnext
				break
			}
		}
	}
	*rec = record{} // drop the strings and maps for the collector
	rs.free = append(rs.free, r)
	rs.live--
}

// each calls f for every stored record in slot order.
func (rs *records) each(f func(r ref, rec *record)) {
	for i := range rs.used {
		r := ref(i + 1)
		if rec := rs.at(r); rec.service != "" {
			f(r, rec)
		}
	}
}

// head returns the first holder of x, or 0.
func (rs *records) head(x ip) ref {
	if x.v6 {
		return rs.held6[x.u]
	}
	return rs.held4[uint32(x.u.lo)]
}

// setHead makes r the first holder of x; r == 0 forgets x.
func (rs *records) setHead(x ip, r ref) {
	switch {
	case x.v6 && r == 0:
		delete(rs.held6, x.u)
	case x.v6:
		if rs.held6 == nil {
			rs.held6 = make(map[u128]ref)
		}
		rs.held6[x.u] = r
	case r == 0:
		delete(rs.held4, uint32(x.u.lo))
	default:
		if rs.held4 == nil {
			rs.held4 = make(map[uint32]ref)
		}
		rs.held4[uint32(x.u.lo)] = r
	}
}

// heldCount returns the number of held addresses.
func (rs *records) heldCount() int { return len(rs.held4) + len(rs.held6) }

// eachHeld calls f for every held address and its first holder, in no
// particular order.
func (rs *records) eachHeld(f func(x ip, head ref)) {
	for a, r := range rs.held4 {
		f(ip{u: u128{0, uint64(a)}}, r)
	}
	for u, r := range rs.held6 {
		f(ip{u: u, v6: true}, r)
	}
}

// holders returns the holders of x in order.
func (rs *records) holders(x ip) func(yield func(ref, *record) bool) {
	return func(yield func(ref, *record) bool) {
		for r := rs.head(x); r != 0; {
			rec := rs.at(r)
			if !yield(r, rec) {
				return
			}
			r = *rec.link(x)
		}
	}
}

// keySet is the set of addresses held under one sharing key, by family,
// as raw address values (not pool ordinals), so it survives pool changes.
type keySet struct {
	fams [2]intervalSet // by famIndex
}

func (k *keySet) set(x ip) *intervalSet { return &k.fams[famIndex(x.family())] }

func (k *keySet) len() uint64 { return k.fams[0].count + k.fams[1].count }
