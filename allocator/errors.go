package allocator

import (
	"errors"
	"fmt"
	"net/netip"

	"go4.org/netipx"
)

// Sentinel errors. Errors returned by this package wrap one of them; match
// with errors.Is.
var (
	// ErrInvalidRequest: the Request (or the addresses given to Assign)
	// is malformed: no service key, a zero or zoned address, two
	// addresses of one family, an address count the family policy does
	// not allow.
	ErrInvalidRequest = errors.New("allocator: invalid request")
	// ErrInvalidPool: a pool is malformed: no name, a duplicate name, an
	// invalid range or selector, an unparsable address string.
	ErrInvalidPool = errors.New("allocator: invalid pool")
	// ErrOverlappingPools: two pools share addresses. The error is an
	// *OverlapError naming both pools and the shared range.
	ErrOverlappingPools = errors.New("allocator: overlapping pools")
	// ErrUnknownPool: the requested pool does not exist.
	ErrUnknownPool = errors.New("allocator: unknown pool")
	// ErrNoEligiblePool: no pool admits the service (selectors,
	// namespaces, AutoAssign), or the requested pool does not admit it.
	ErrNoEligiblePool = errors.New("allocator: no eligible pool")
	// ErrPoolExhausted: eligible pools of the wanted families have no
	// free (or compatibly shared) address left.
	ErrPoolExhausted = errors.New("allocator: pool exhausted")
	// ErrFamilyUnavailable: no eligible pool has addresses of a family the
	// request requires.
	ErrFamilyUnavailable = errors.New("allocator: address family unavailable")
	// ErrAddressNotInPool: a requested or restored address is in no pool,
	// not in the requested pool, or excluded by AvoidBuggyIPs.
	ErrAddressNotInPool = errors.New("allocator: address not in any pool")
	// ErrAddressInUse: the address is held by a service that does not
	// share it under the same key. The error is a *ConflictError.
	ErrAddressInUse = errors.New("allocator: address in use")
	// ErrSharingConflict: the address is shared under the same key but
	// the ports overlap or the backend keys differ. The error is a
	// *ConflictError.
	ErrSharingConflict = errors.New("allocator: sharing conflict")
)

// ConflictError reports an address held by another service.
type ConflictError struct {
	Addr netip.Addr
	// Holder is the service that holds Addr (the first, by name, that
	// conflicts).
	Holder string
	// Reason is a short human explanation.
	Reason string
	// Err is ErrAddressInUse or ErrSharingConflict.
	Err error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v: %s is held by %q: %s", e.Err, e.Addr, e.Holder, e.Reason)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// OverlapError reports two pools that share addresses.
type OverlapError struct {
	// PoolA and PoolB are the two pools, PoolA < PoolB.
	PoolA, PoolB string
	// Range is (the first part of) the addresses both pools contain.
	Range netipx.IPRange
}

func (e *OverlapError) Error() string {
	return fmt.Sprintf("%v: %q and %q both contain %s", ErrOverlappingPools, e.PoolA, e.PoolB, e.Range)
}

func (e *OverlapError) Unwrap() error { return ErrOverlappingPools }
