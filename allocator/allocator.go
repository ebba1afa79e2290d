package allocator

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Allocator hands out addresses from pools to services. It is safe for
// concurrent use: every method holds one mutex for its whole duration and
// never calls out while holding it. The zero Allocator is ready to use and
// has no pools.
//
// Allocate, Assign, Release and Lookup cost O(log n) for n held addresses
// (plus the number of pools), whatever the size of the pools; with a
// sharing key, Allocate also steps over the addresses held under that key
// that are lower than the first free one and cannot be shared (their
// ports overlap or their backend keys differ). Memory is proportional to
// the assignments, not to the pools.
type Allocator struct {
	// mu guards every field below.
	mu sync.Mutex
	// pools is the current configuration; nil means no pools.
	pools *poolSet
	// recs holds every service's record, indexed by service key and by
	// held address. All holders of an address share one sharing key and
	// backend key.
	recs records
	// byKey maps a non-empty sharing key to the addresses held under it.
	byKey map[string]*keySet
}

// record is one service's assignment and the request facts it keeps.
type record struct {
	service   string
	namespace string
	labels    map[string]string
	nsLabels  map[string]string
	pool      string
	ps        *poolState // the current state of pool, or nil
	ports     []Port     // sorted, unique
	key       string
	backend   string
	ips       [2]ip  // ips[:n], primary family first
	n         uint8  // addresses held
	next      [2]ref // the next holder of ips[i]
	hnext     ref    // the next record whose service key has the same hash
}

// New returns an Allocator with no pools. It starts no goroutines. The
// Config is copied.
func New(cfg Config) *Allocator {
	a := &Allocator{}
	a.init()
	return a
}

func (a *Allocator) init() {
	if a.pools == nil {
		a.pools = &poolSet{byName: map[string]*poolState{}}
	}
}

// Allocate gives req.Service addresses and returns its assignment.
//
// A service that already holds addresses keeps them whenever they still
// satisfy the request (requested addresses and pool, families, sharing with
// the other holders); its labels, ports and sharing key are updated in
// place, and for PreferDualStack (or RequireDualStack) a missing family is
// added from the same pool when it has one free. A pool change that made
// the assignment ineligible does not move it. A stranded assignment is
// returned as it is, with Stranded set: Release it to move the service.
// Only when the request itself asks for something the held addresses
// cannot give (another address, pool or family, or a sharing key or ports
// now incompatible with the other holders) does the service move, and then
// only if the new allocation succeeds; otherwise it keeps what it had.
//
// A new allocation takes, in order: the requested addresses; else the
// lowest free address of the requested pool; else of the first eligible
// pool in auto-assignment order (ServiceAllocation pools admitting the
// service by priority, unset last, then name; then pools without one, by
// name; AutoAssign pools only). With a sharing key, an address already
// shared compatibly under that key is taken if it is lower than the first
// free one. A requested pool or address whose pool does not admit the
// service is refused with ErrNoEligiblePool. Dual-stack requests take both
// families from one pool; PreferDualStack first looks for a pool with
// both, then settles for the primary family.
func (a *Allocator) Allocate(req Request) (Assignment, error) {
	rec, err := newRecord(req)
	if err != nil {
		return Assignment{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	r, h := a.recs.find(rec.service)
	if r == 0 {
		if err := a.allocate(&rec, req); err != nil {
			return Assignment{}, err
		}
		return a.assignment(a.hold(&rec, h)), nil
	}
	old := *a.recs.at(r)
	if a.stranded(&old) {
		return a.assignment(&old), nil
	}
	a.unhold(r, h)
	if a.keep(&old, &rec, req) == nil {
		return a.assignment(a.hold(&rec, h)), nil
	}
	if err := a.allocate(&rec, req); err != nil {
		a.hold(&old, h)
		return Assignment{}, err
	}
	return a.assignment(a.hold(&rec, h)), nil
}

// Assign makes req.Service hold exactly addrs, one per family: the restore
// of an assignment read back from a Service's status after a restart, or
// an explicit placement. It is idempotent. It refuses addresses in no pool
// (ErrAddressNotInPool), in two different pools (ErrInvalidRequest), or
// held by a service they cannot be shared with (a *ConflictError naming
// the holder). It does not refuse for pool policy: an address the pool no
// longer admits for the service is restored with Ineligible set, since
// MetalLB never takes an address away on a configuration change. On error
// the service keeps what it held before.
func (a *Allocator) Assign(req Request, addrs []netip.Addr) (Assignment, error) {
	rec, err := newRecord(req)
	if err != nil {
		return Assignment{}, err
	}
	if err := checkAddrs(addrs); err != nil {
		return Assignment{}, err
	}
	if len(addrs) == 0 {
		return Assignment{}, fmt.Errorf("%w: no addresses to assign to %q", ErrInvalidRequest, rec.service)
	}
	primary := req.Families.Primary
	if primary == 0 {
		primary = familyOf(addrs[0])
	}
	rec.setAddrs(orderAddrs(addrs, primary))

	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	var old record
	r, h := a.recs.find(rec.service)
	if r != 0 {
		old = *a.recs.at(r)
		a.unhold(r, h)
	}
	if err := a.place(&rec, false); err != nil {
		if r != 0 {
			a.hold(&old, h)
		}
		return Assignment{}, err
	}
	return a.assignment(a.hold(&rec, h)), nil
}

// Release frees everything service holds and reports whether it held
// anything. Shared addresses stay held by their other holders.
func (a *Allocator) Release(service string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	r, h := a.recs.find(service)
	if r == 0 {
		return false
	}
	a.unhold(r, h)
	return true
}

// Lookup returns what service holds.
func (a *Allocator) Lookup(service string) (Assignment, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	r, _ := a.recs.find(service)
	if r == 0 {
		return Assignment{}, false
	}
	return a.assignment(a.recs.at(r)), true
}

// Holders returns the services holding addr, sorted.
func (a *Allocator) Holders(addr netip.Addr) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	if !addr.IsValid() || addr.Zone() != "" {
		return nil
	}
	var out []string
	for _, h := range a.recs.holders(ipOf(addr)) {
		out = append(out, h.service)
	}
	return out
}

// Assignments returns every assignment, sorted by service.
func (a *Allocator) Assignments() []Assignment {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	out := make([]Assignment, 0, a.recs.live)
	a.recs.each(func(_ ref, rec *record) {
		out = append(out, a.assignment(rec))
	})
	slices.SortFunc(out, func(x, y Assignment) int { return cmp.Compare(x.Service, y.Service) })
	return out
}

// newRecord validates req and copies what the allocator keeps of it.
func newRecord(req Request) (record, error) {
	if req.Service == "" {
		return record{}, fmt.Errorf("%w: empty service key", ErrInvalidRequest)
	}
	if req.Families.Stack > RequireDualStack {
		return record{}, fmt.Errorf("%w: %q: unknown stack policy %d", ErrInvalidRequest, req.Service, req.Families.Stack)
	}
	if p := req.Families.Primary; p != 0 && p != IPv4 && p != IPv6 {
		return record{}, fmt.Errorf("%w: %q: unknown family %d", ErrInvalidRequest, req.Service, p)
	}
	if err := checkAddrs(req.Addresses); err != nil {
		return record{}, fmt.Errorf("%w (service %q)", err, req.Service)
	}
	n := len(req.Addresses)
	switch {
	case n == 2 && req.Families.Stack == SingleStack:
		return record{}, fmt.Errorf("%w: %q: two addresses requested for a single-stack service", ErrInvalidRequest, req.Service)
	case n == 1 && req.Families.Stack == RequireDualStack:
		return record{}, fmt.Errorf("%w: %q: one address requested for a RequireDualStack service", ErrInvalidRequest, req.Service)
	case n == 1 && req.Families.Primary != 0 && familyOf(req.Addresses[0]) != req.Families.Primary:
		return record{}, fmt.Errorf("%w: %q: requested %s is not of the primary family IPv%d", ErrInvalidRequest, req.Service, req.Addresses[0], req.Families.Primary)
	}
	ports := slices.Clone(req.Ports)
	slices.SortFunc(ports, comparePorts)
	ports = slices.Compact(ports)
	return record{
		service:   req.Service,
		namespace: req.Namespace,
		labels:    maps.Clone(req.Labels),
		nsLabels:  maps.Clone(req.NamespaceLabels),
		ports:     ports,
		key:       req.SharingKey,
		backend:   req.BackendKey,
	}, nil
}

func comparePorts(x, y Port) int {
	if c := cmp.Compare(x.Protocol, y.Protocol); c != 0 {
		return c
	}
	return cmp.Compare(x.Port, y.Port)
}

// checkAddrs validates at most one address per family.
func checkAddrs(addrs []netip.Addr) error {
	if len(addrs) > 2 {
		return fmt.Errorf("%w: %d addresses, at most one per family", ErrInvalidRequest, len(addrs))
	}
	for _, ad := range addrs {
		if !ad.IsValid() {
			return fmt.Errorf("%w: invalid address", ErrInvalidRequest)
		}
		if ad.Zone() != "" {
			return fmt.Errorf("%w: zoned address %s", ErrInvalidRequest, ad)
		}
	}
	if len(addrs) == 2 && familyOf(addrs[0]) == familyOf(addrs[1]) {
		return fmt.Errorf("%w: two addresses of one family (%s, %s)", ErrInvalidRequest, addrs[0], addrs[1])
	}
	return nil
}

// orderAddrs copies addrs with the primary family first.
func orderAddrs(addrs []netip.Addr, primary Family) []netip.Addr {
	out := slices.Clone(addrs)
	if len(out) == 2 && familyOf(out[0]) != primary {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// primaryOf resolves the primary family of a request.
func primaryOf(req Request, held *record) Family {
	switch {
	case req.Families.Primary != 0:
		return req.Families.Primary
	case len(req.Addresses) > 0:
		return familyOf(req.Addresses[0])
	case held != nil && held.n > 0:
		return held.ips[0].family()
	}
	return IPv4
}

// keep tries to give rec the addresses old holds (old is not held).
func (a *Allocator) keep(old, rec *record, req Request) error {
	if req.Pool != "" && req.Pool != old.pool {
		return ErrInvalidRequest
	}
	p := a.pools.byName[old.pool]
	if p == nil {
		return ErrUnknownPool
	}
	primary := primaryOf(req, old)
	heldOf := func(f Family) (netip.Addr, bool) {
		for _, x := range old.ips[:old.n] {
			if x.family() == f {
				return x.addr(), true
			}
		}
		return netip.Addr{}, false
	}
	if len(req.Addresses) > 0 {
		// Addresses already held are kept whatever the pool's policy;
		// a newly requested one must be admitted.
		allHeld := true
		for _, ad := range req.Addresses {
			h, ok := heldOf(familyOf(ad))
			if ok && h != ad {
				return ErrInvalidRequest
			}
			allHeld = allHeld && ok
		}
		rec.setAddrs(orderAddrs(req.Addresses, primary))
		if err := a.place(rec, !allHeld); err != nil {
			return err
		}
		if rec.pool != old.pool {
			return ErrInvalidRequest
		}
		return nil
	}
	pa, ok := heldOf(primary)
	if !ok {
		return ErrFamilyUnavailable
	}
	rec.pool, rec.ps = p.cfg.Name, p
	rec.setAddrs([]netip.Addr{pa})
	if req.Families.Stack != SingleStack {
		if sa, ok := heldOf(otherFamily(primary)); ok {
			rec.setAddrs([]netip.Addr{pa, sa})
		}
	}
	for _, x := range rec.ips[:rec.n] {
		if err := a.checkShare(x, rec); err != nil {
			return err
		}
	}
	if req.Families.Stack != SingleStack && rec.n == 1 {
		if sa, ok := a.pick(p, otherFamily(primary), rec); ok && a.admits(p, rec) {
			rec.setAddrs([]netip.Addr{pa, sa})
		} else if req.Families.Stack == RequireDualStack {
			return ErrFamilyUnavailable
		}
	}
	return nil
}

// place checks that rec may hold rec.addrs and sets rec.pool. With policy,
// the pool must also admit rec and may not exclude the addresses.
func (a *Allocator) place(rec *record, policy bool) error {
	var pool *poolState
	for i := range int(rec.n) {
		ad := rec.ips[i].addr()
		p := a.pools.poolOf(rec.ips[i])
		if p == nil {
			return fmt.Errorf("%w: %s (service %q)", ErrAddressNotInPool, ad, rec.service)
		}
		if pool != nil && pool != p {
			return fmt.Errorf("%w: %q: %s and %s are in different pools (%q, %q)", ErrInvalidRequest, rec.service, rec.ips[0].addr(), ad, pool.cfg.Name, p.cfg.Name)
		}
		pool = p
		if _, ok := p.ordIP(rec.ips[i]); policy && !ok {
			return fmt.Errorf("%w: %s is excluded from pool %q by AvoidBuggyIPs", ErrAddressNotInPool, ad, p.cfg.Name)
		}
	}
	if policy && !a.admits(pool, rec) {
		return fmt.Errorf("%w: pool %q of %s does not admit service %q", ErrNoEligiblePool, pool.cfg.Name, rec.ips[0].addr(), rec.service)
	}
	for _, x := range rec.ips[:rec.n] {
		if err := a.checkShare(x, rec); err != nil {
			return err
		}
	}
	rec.pool, rec.ps = pool.cfg.Name, pool
	return nil
}

// allocate finds new addresses for rec (which holds nothing).
func (a *Allocator) allocate(rec *record, req Request) error {
	primary := primaryOf(req, nil)
	if len(req.Addresses) > 0 {
		rec.setAddrs(orderAddrs(req.Addresses, primary))
		if err := a.place(rec, true); err != nil {
			return err
		}
		if req.Pool != "" && rec.pool != req.Pool {
			return fmt.Errorf("%w: %s is in pool %q, not in the requested pool %q", ErrAddressNotInPool, rec.ips[0].addr(), rec.pool, req.Pool)
		}
		return nil
	}
	var buf [8]*poolState
	candidates := buf[:0]
	if req.Pool != "" {
		p := a.pools.byName[req.Pool]
		if p == nil {
			return fmt.Errorf("%w: %q (service %q)", ErrUnknownPool, req.Pool, rec.service)
		}
		if !a.admits(p, rec) {
			return fmt.Errorf("%w: pool %q does not admit service %q", ErrNoEligiblePool, req.Pool, rec.service)
		}
		candidates = append(candidates, p)
	} else {
		for _, p := range a.pools.order {
			if p.cfg.AutoAssign && a.admits(p, rec) {
				candidates = append(candidates, p)
			}
		}
		if len(candidates) == 0 {
			return fmt.Errorf("%w for service %q", ErrNoEligiblePool, rec.service)
		}
	}
	both, one := []Family{primary, otherFamily(primary)}, []Family{primary}
	passes := [][]Family{one}
	switch req.Families.Stack {
	case RequireDualStack:
		passes = [][]Family{both}
	case PreferDualStack:
		passes = [][]Family{both, one}
	}
	hasFamilies := false
	for _, fams := range passes {
	pools:
		for _, p := range candidates {
			var got [2]netip.Addr
			for _, f := range fams {
				if !p.hasFamily(f) {
					continue pools
				}
			}
			hasFamilies = true
			for i, f := range fams {
				ad, ok := a.pick(p, f, rec)
				if !ok {
					continue pools
				}
				got[i] = ad
			}
			rec.setAddrs(got[:len(fams)])
			rec.pool, rec.ps = p.cfg.Name, p
			return nil
		}
	}
	names := make([]string, len(candidates))
	for i, p := range candidates {
		names[i] = p.cfg.Name
	}
	if !hasFamilies {
		return fmt.Errorf("%w: no eligible pool of [%s] has the families service %q needs", ErrFamilyUnavailable, strings.Join(names, " "), rec.service)
	}
	return fmt.Errorf("%w: no free address in [%s] for service %q", ErrPoolExhausted, strings.Join(names, " "), rec.service)
}

// pick returns the lowest address of family f in p that rec may take: the
// first free one, or a lower one already shared compatibly under rec.key.
// Addresses under the key are visited in ascending order from the bottom
// of each of p's ranges, so the search stops at the first compatible one.
func (a *Allocator) pick(p *poolState, f Family, rec *record) (netip.Addr, bool) {
	best, ok := p.firstFree(f)
	if rec.key == "" {
		return best, ok
	}
	ks := a.byKey[rec.key]
	if ks == nil {
		return best, ok
	}
	set := &ks.fams[famIndex(f)]
	var limit u128
	if ok {
		limit = ipOf(best).u
	}
	for _, r := range p.fams[famIndex(f)].addrs {
		if ok && !r.lo.less(limit) {
			break
		}
		for x := r.lo; ; x = x.add1() {
			var found bool
			if x, found = set.next(x); !found || r.hi.less(x) || (ok && !x.less(limit)) {
				break
			}
			cand := ip{u: x, v6: f == IPv6}
			if _, in := p.ordIP(cand); in && a.shareConflict(cand, rec) == nil {
				return cand.addr(), true
			}
			if x == r.hi {
				break
			}
		}
	}
	return best, ok
}

// shareConflict returns the first holder of x, by name, next to which rec
// may not hold x, or nil.
func (a *Allocator) shareConflict(x ip, rec *record) *record {
	for _, h := range a.recs.holders(x) {
		if h.service == rec.service {
			continue
		}
		if h.key == "" || h.key != rec.key || h.backend != rec.backend {
			return h
		}
		if _, ok := overlap(h.ports, rec.ports); ok {
			return h
		}
	}
	return nil
}

// checkShare reports whether rec may hold x next to its current holders.
func (a *Allocator) checkShare(x ip, rec *record) error {
	h := a.shareConflict(x, rec)
	if h == nil {
		return nil
	}
	conflict := func(err error, format string, args ...any) error {
		return &ConflictError{Addr: x.addr(), Holder: h.service, Reason: fmt.Sprintf(format, args...), Err: err}
	}
	switch {
	case h.key == "":
		return conflict(ErrAddressInUse, "the holder does not allow sharing")
	case rec.key == "":
		return conflict(ErrAddressInUse, "service %q has no sharing key", rec.service)
	case h.key != rec.key:
		return conflict(ErrAddressInUse, "sharing key %q differs from the holder's %q", rec.key, h.key)
	case h.backend != rec.backend:
		return conflict(ErrSharingConflict, "backend key %q differs from the holder's %q", rec.backend, h.backend)
	}
	pt, _ := overlap(h.ports, rec.ports)
	return conflict(ErrSharingConflict, "port %s/%d is in use", pt.Protocol, pt.Port)
}

// overlap returns a port in both sorted lists.
func overlap(x, y []Port) (Port, bool) {
	for len(x) > 0 && len(y) > 0 {
		switch c := comparePorts(x[0], y[0]); {
		case c < 0:
			x = x[1:]
		case c > 0:
			y = y[1:]
		default:
			return x[0], true
		}
	}
	return Port{}, false
}

func (a *Allocator) admits(p *poolState, rec *record) bool {
	return p.cfg.Allocation.admits(rec.namespace, rec.labels, rec.nsLabels)
}

// setAddrs copies addrs (at most two, unzoned) into rec.
func (r *record) setAddrs(addrs []netip.Addr) {
	r.n = 0
	for _, ad := range addrs[:min(len(addrs), len(r.ips))] {
		r.ips[r.n] = ipOf(ad)
		r.n++
	}
}

// addrs returns a fresh copy of rec's addresses.
func (r *record) addrs() []netip.Addr {
	out := make([]netip.Addr, r.n)
	for i := range out {
		out[i] = r.ips[i].addr()
	}
	return out
}

// link returns where r keeps the next holder of x, one of its addresses.
func (r *record) link(x ip) *ref {
	if r.n > 1 && r.ips[1] == x {
		return &r.next[1]
	}
	return &r.next[0]
}

// hold stores a copy of src, whose service key hashes to h, and records it
// as holding its addresses.
func (a *Allocator) hold(src *record, h uint64) *record {
	r := a.recs.add(src, h)
	rec := a.recs.at(r)
	// rec.ps was set from the current pool set by place, keep, allocate
	// or install.
	if rec.ps != nil {
		rec.ps.services++
	}
	for i, x := range rec.ips[:rec.n] {
		head := a.recs.head(x)
		if head == 0 {
			a.recs.setHead(x, r)
			if p := a.pools.poolOf(x); p != nil {
				if o, ok := p.ordIP(x); ok {
					p.fams[famIndex(x.family())].held.add(o)
				}
			}
			// All holders share one key, so only a newly held address
			// joins the key's set.
			if rec.key != "" {
				ks := a.byKey[rec.key]
				if ks == nil {
					if a.byKey == nil {
						a.byKey = make(map[string]*keySet)
					}
					ks = &keySet{}
					a.byKey[rec.key] = ks
				}
				ks.set(x).add(x.u)
			}
			continue
		}
		var prev ref
		cur := head
		for cur != 0 && a.recs.at(cur).service < rec.service {
			prev, cur = cur, *a.recs.at(cur).link(x)
		}
		rec.next[i] = cur
		if prev == 0 {
			a.recs.setHead(x, r)
		} else {
			*a.recs.at(prev).link(x) = r
		}
	}
	return rec
}

// unhold forgets the holdings of the record in slot r, whose service key
// hashes to h, and frees the slot.
func (a *Allocator) unhold(r ref, h uint64) {
	rec := a.recs.at(r)
	if rec.ps != nil {
		rec.ps.services--
	}
	for i, x := range rec.ips[:rec.n] {
		var prev ref
		cur := a.recs.head(x)
		for cur != 0 && cur != r {
			prev, cur = cur, *a.recs.at(cur).link(x)
		}
		if cur == 0 {
			continue // not reachable: rec holds x
		}
		next := rec.next[i]
		switch {
		case prev != 0:
			*a.recs.at(prev).link(x) = next
			continue
		case next != 0:
			a.recs.setHead(x, next)
			continue
		}
		a.recs.setHead(x, 0)
		if p := a.pools.poolOf(x); p != nil {
			if o, ok := p.ordIP(x); ok {
				p.fams[famIndex(x.family())].held.remove(o)
			}
		}
		if ks := a.byKey[rec.key]; rec.key != "" && ks != nil {
			ks.set(x).remove(x.u)
			if ks.len() == 0 {
				delete(a.byKey, rec.key)
			}
		}
	}
	a.recs.remove(r, h)
}

// stranded reports whether rec's addresses are not all in its pool.
func (a *Allocator) stranded(rec *record) bool {
	for _, x := range rec.ips[:rec.n] {
		p := a.pools.poolOf(x)
		if p == nil || p.cfg.Name != rec.pool {
			return true
		}
	}
	return false
}

// ineligible reports whether rec's pool no longer admits it.
func (a *Allocator) ineligible(rec *record) bool {
	p := rec.ps
	if p == nil {
		return false
	}
	if !a.admits(p, rec) {
		return true
	}
	for _, x := range rec.ips[:rec.n] {
		if _, ok := p.ordIP(x); !ok {
			return true
		}
	}
	return false
}

func (a *Allocator) assignment(rec *record) Assignment {
	st := a.stranded(rec)
	return Assignment{
		Service:    rec.service,
		Pool:       rec.pool,
		Addresses:  rec.addrs(),
		SharingKey: rec.key,
		Stranded:   st,
		Ineligible: !st && a.ineligible(rec),
	}
}
