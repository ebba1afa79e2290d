package allocator

// intervalSet is an ordered set of ordinals stored as maximal disjoint,
// non-adjacent intervals in a treap keyed by interval start. Lookups,
// insertions and removals of one ordinal cost O(log k) for k intervals,
// and finding the first ordinal not in the set at or after x is a single
// floor lookup: the interval containing x, if any, ends just before a free
// ordinal. Memory is proportional to the number of intervals, which is at
// most the number of ordinals held.
//
// The nodes live in one slice and link by index, so the set holds no
// pointers for the garbage collector to scan. Index 0 is the nil node.
//
// Treap priorities come from a counter hashed with splitmix64, so the
// shape is deterministic; results never depend on it anyway.
type intervalSet struct {
	mem   []ivNode // mem[0] is unused; freed nodes chain through left
	free  int32
	root  int32
	count uint64 // ordinals in the set
	nodes int    // intervals in the set
	seq   uint64
}

type ivNode struct {
	start, end  u128
	prio        uint64
	left, right int32
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// newNode returns the index of a fresh node holding [x, x].
func (s *intervalSet) newNode(x u128) int32 {
	s.seq++
	nd := ivNode{start: x, end: x, prio: splitmix64(s.seq)}
	if i := s.free; i != 0 {
		s.free = s.mem[i].left
		s.mem[i] = nd
		return i
	}
	if len(s.mem) == 0 {
		s.mem = append(s.mem, ivNode{})
	}
	s.mem = append(s.mem, nd)
	return int32(len(s.mem) - 1)
}

func (s *intervalSet) freeNode(i int32) {
	s.mem[i] = ivNode{left: s.free}
	s.free = i
}

// floor returns the interval with the greatest start <= x, or 0.
func (s *intervalSet) floor(x u128) int32 {
	var best int32
	n := s.root
	for n != 0 {
		nd := &s.mem[n]
		if x.less(nd.start) {
			n = nd.left
		} else {
			best = n
			n = nd.right
		}
	}
	return best
}

// above returns the interval with the least start > x, or 0.
func (s *intervalSet) above(x u128) int32 {
	var best int32
	n := s.root
	for n != 0 {
		nd := &s.mem[n]
		if x.less(nd.start) {
			best = n
			n = nd.left
		} else {
			n = nd.right
		}
	}
	return best
}

// exact returns the interval starting at x, or 0.
func (s *intervalSet) exact(x u128) int32 {
	n := s.root
	for n != 0 {
		nd := &s.mem[n]
		switch c := x.cmp(nd.start); {
		case c < 0:
			n = nd.left
		case c > 0:
			n = nd.right
		default:
			return n
		}
	}
	return 0
}

// contains reports whether x is in the set.
func (s *intervalSet) contains(x u128) bool {
	n := s.floor(x)
	return n != 0 && !s.mem[n].end.less(x)
}

// next returns the smallest ordinal in the set that is >= x.
func (s *intervalSet) next(x u128) (u128, bool) {
	if n := s.floor(x); n != 0 && !s.mem[n].end.less(x) {
		return x, true
	}
	if n := s.above(x); n != 0 {
		return s.mem[n].start, true
	}
	return u128{}, false
}

// firstFree returns the smallest ordinal in [lo, hi] not in the set.
func (s *intervalSet) firstFree(lo, hi u128) (u128, bool) {
	n := s.floor(lo)
	if n == 0 || s.mem[n].end.less(lo) {
		return lo, true
	}
	// Intervals are maximal, so end+1 is free (if it exists).
	end := s.mem[n].end
	if !end.less(hi) {
		return u128{}, false
	}
	return end.add1(), true
}

// add inserts x, which must not be in the set.
func (s *intervalSet) add(x u128) {
	var left, right int32
	if l := s.floor(x); l != 0 && s.mem[l].end != maxU128 && s.mem[l].end.add1() == x {
		left = l
	}
	if x != maxU128 {
		right = s.exact(x.add1())
	}
	switch {
	case left != 0 && right != 0:
		s.mem[left].end = s.mem[right].end
		s.root = s.delete(s.root, s.mem[right].start)
		s.freeNode(right)
		s.nodes--
	case left != 0:
		s.mem[left].end = x
	case right != 0:
		// Lowering the key keeps the order: nothing lies in between.
		s.mem[right].start = x
	default:
		s.root = s.insert(s.root, s.newNode(x))
		s.nodes++
	}
	s.count++
}

// remove deletes x, reporting whether it was in the set.
func (s *intervalSet) remove(x u128) bool {
	n := s.floor(x)
	if n == 0 || s.mem[n].end.less(x) {
		return false
	}
	nd := &s.mem[n]
	switch {
	case nd.start == nd.end:
		s.root = s.delete(s.root, nd.start)
		s.freeNode(n)
		s.nodes--
	case nd.start == x:
		nd.start = x.add1()
	case nd.end == x:
		nd.end = x.sub1()
	default:
		end := nd.end
		nd.end = x.sub1()
		i := s.newNode(x.add1()) // may move s.mem
		s.mem[i].end = end
		s.root = s.insert(s.root, i)
		s.nodes++
	}
	s.count--
	return true
}

// insert adds node nd to the treap rooted at root and returns the new root.
func (s *intervalSet) insert(root, nd int32) int32 {
	if root == 0 {
		return nd
	}
	r := &s.mem[root]
	if s.mem[nd].start.less(r.start) {
		l := s.insert(r.left, nd)
		r = &s.mem[root]
		r.left = l
		if s.mem[l].prio > r.prio {
			r.left = s.mem[l].right
			s.mem[l].right = root
			return l
		}
		return root
	}
	rt := s.insert(r.right, nd)
	r = &s.mem[root]
	r.right = rt
	if s.mem[rt].prio > r.prio {
		r.right = s.mem[rt].left
		s.mem[rt].left = root
		return rt
	}
	return root
}

// delete unlinks the node starting at start and returns the new root. The
// caller frees the node.
func (s *intervalSet) delete(root int32, start u128) int32 {
	if root == 0 {
		return 0
	}
	r := &s.mem[root]
	switch c := start.cmp(r.start); {
	case c < 0:
		r.left = s.delete(r.left, start)
	case c > 0:
		r.right = s.delete(r.right, start)
	default:
		return s.merge(r.left, r.right)
	}
	return root
}

// merge joins two treaps where every key of a is below every key of b.
func (s *intervalSet) merge(a, b int32) int32 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	case s.mem[a].prio > s.mem[b].prio:
		s.mem[a].right = s.merge(s.mem[a].right, b)
		return a
	default:
		s.mem[b].left = s.merge(a, s.mem[b].left)
		return b
	}
}

// walk calls f for each interval in order until f returns false.
func (s *intervalSet) walk(f func(start, end u128) bool) {
	var rec func(n int32) bool
	rec = func(n int32) bool {
		if n == 0 {
			return true
		}
		nd := s.mem[n]
		return rec(nd.left) && f(nd.start, nd.end) && rec(nd.right)
	}
	rec(s.root)
}
