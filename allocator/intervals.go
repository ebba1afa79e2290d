package allocator

// intervalSet is an ordered set of ordinals stored as maximal disjoint,
// non-adjacent intervals in a treap keyed by interval start. Lookups,
// insertions and removals of one ordinal cost O(log k) for k intervals,
// and finding the first ordinal not in the set at or after x is a single
// floor lookup: the interval containing x, if any, ends just before a free
// ordinal. Memory is proportional to the number of intervals, which is at
// most the number of ordinals held.
//
// Treap priorities come from a counter hashed with splitmix64, so the
// shape is deterministic; results never depend on it anyway.
type intervalSet struct {
	root  *ivNode
	count uint64 // ordinals in the set
	nodes int    // intervals in the set
	seq   uint64
}

type ivNode struct {
	start, end  u128
	prio        uint64
	left, right *ivNode
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// floor returns the interval with the greatest start <= x, or nil.
func (s *intervalSet) floor(x u128) *ivNode {
	var best *ivNode
	n := s.root
	for n != nil {
		if x.less(n.start) {
			n = n.left
		} else {
			best = n
			n = n.right
		}
	}
	return best
}

// exact returns the interval starting at x, or nil.
func (s *intervalSet) exact(x u128) *ivNode {
	n := s.root
	for n != nil {
		switch c := x.cmp(n.start); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n
		}
	}
	return nil
}

// contains reports whether x is in the set.
func (s *intervalSet) contains(x u128) bool {
	n := s.floor(x)
	return n != nil && !n.end.less(x)
}

// firstFree returns the smallest ordinal in [lo, hi] not in the set.
func (s *intervalSet) firstFree(lo, hi u128) (u128, bool) {
	n := s.floor(lo)
	if n == nil || n.end.less(lo) {
		return lo, true
	}
	// Intervals are maximal, so n.end+1 is free (if it exists).
	if !n.end.less(hi) {
		return u128{}, false
	}
	return n.end.add1(), true
}

// add inserts x, which must not be in the set.
func (s *intervalSet) add(x u128) {
	var left, right *ivNode
	if l := s.floor(x); l != nil && l.end.add1() == x && l.end != maxU128 {
		left = l
	}
	if x != maxU128 {
		right = s.exact(x.add1())
	}
	switch {
	case left != nil && right != nil:
		left.end = right.end
		s.root = ivDelete(s.root, right.start)
		s.nodes--
	case left != nil:
		left.end = x
	case right != nil:
		// Lowering the key keeps the order: nothing lies in between.
		right.start = x
	default:
		s.seq++
		s.root = ivInsert(s.root, &ivNode{start: x, end: x, prio: splitmix64(s.seq)})
		s.nodes++
	}
	s.count++
}

// remove deletes x, reporting whether it was in the set.
func (s *intervalSet) remove(x u128) bool {
	n := s.floor(x)
	if n == nil || n.end.less(x) {
		return false
	}
	switch {
	case n.start == n.end:
		s.root = ivDelete(s.root, n.start)
		s.nodes--
	case n.start == x:
		n.start = x.add1()
	case n.end == x:
		n.end = x.sub1()
	default:
		end := n.end
		n.end = x.sub1()
		s.seq++
		s.root = ivInsert(s.root, &ivNode{start: x.add1(), end: end, prio: splitmix64(s.seq)})
		s.nodes++
	}
	s.count--
	return true
}

func ivInsert(root, nd *ivNode) *ivNode {
	if root == nil {
		return nd
	}
	if nd.start.less(root.start) {
		root.left = ivInsert(root.left, nd)
		if root.left.prio > root.prio {
			l := root.left
			root.left = l.right
			l.right = root
			return l
		}
		return root
	}
	root.right = ivInsert(root.right, nd)
	if root.right.prio > root.prio {
		r := root.right
		root.right = r.left
		r.left = root
		return r
	}
	return root
}

func ivDelete(root *ivNode, start u128) *ivNode {
	if root == nil {
		return nil
	}
	switch c := start.cmp(root.start); {
	case c < 0:
		root.left = ivDelete(root.left, start)
	case c > 0:
		root.right = ivDelete(root.right, start)
	default:
		return ivMerge(root.left, root.right)
	}
	return root
}

// ivMerge joins two treaps where every key of a is below every key of b.
func ivMerge(a, b *ivNode) *ivNode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a.right = ivMerge(a.right, b)
		return a
	default:
		b.left = ivMerge(a, b.left)
		return b
	}
}

// walk calls f for each interval in order until f returns false.
func (s *intervalSet) walk(f func(start, end u128) bool) {
	var rec func(n *ivNode) bool
	rec = func(n *ivNode) bool {
		if n == nil {
			return true
		}
		return rec(n.left) && f(n.start, n.end) && rec(n.right)
	}
	rec(s.root)
}
