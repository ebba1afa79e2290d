package allocator

import (
	"fmt"
	"slices"
)

// Matches reports whether labels satisfy s. A Selector that fails Validate
// matches nothing it cannot evaluate: an unknown operator never matches.
func (s Selector) Matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// Matches reports whether labels satisfy r, with Kubernetes semantics:
// NotIn and DoesNotExist hold for an absent key.
func (r Requirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case OpIn:
		return ok && slices.Contains(r.Values, v)
	case OpNotIn:
		return !ok || !slices.Contains(r.Values, v)
	case OpExists:
		return ok
	case OpDoesNotExist:
		return !ok
	}
	return false
}

// Validate reports a malformed selector: an empty key, an unknown
// operator, In/NotIn without values, Exists/DoesNotExist with values.
func (s Selector) Validate() error {
	for k := range s.MatchLabels {
		if k == "" {
			return fmt.Errorf("%w: selector has an empty label key", ErrInvalidPool)
		}
	}
	for i, r := range s.MatchExpressions {
		if r.Key == "" {
			return fmt.Errorf("%w: selector expression %d has an empty key", ErrInvalidPool, i)
		}
		switch r.Operator {
		case OpIn, OpNotIn:
			if len(r.Values) == 0 {
				return fmt.Errorf("%w: selector expression %q %s needs values", ErrInvalidPool, r.Key, r.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(r.Values) != 0 {
				return fmt.Errorf("%w: selector expression %q %s takes no values", ErrInvalidPool, r.Key, r.Operator)
			}
		default:
			return fmt.Errorf("%w: selector expression %q has unknown operator %q", ErrInvalidPool, r.Key, r.Operator)
		}
	}
	return nil
}

// admits reports whether a pool with allocation al admits a service.
func (al *ServiceAllocation) admits(namespace string, labels, nsLabels map[string]string) bool {
	if al == nil {
		return true
	}
	if len(al.Namespaces) > 0 || len(al.NamespaceSelectors) > 0 {
		ok := slices.Contains(al.Namespaces, namespace)
		for _, s := range al.NamespaceSelectors {
			if ok {
				break
			}
			ok = s.Matches(nsLabels)
		}
		if !ok {
			return false
		}
	}
	if len(al.ServiceSelectors) > 0 {
		for _, s := range al.ServiceSelectors {
			if s.Matches(labels) {
				return true
			}
		}
		return false
	}
	return true
}
