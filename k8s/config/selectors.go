package config

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/allocator"
)

// selector converts a label selector into allocator's Kubernetes-free form,
// rejecting what the apiserver's label selector parser rejects (bad keys or
// values, unknown operators, In without values).
func selector(ls metav1.LabelSelector) (allocator.Selector, error) {
	if _, err := metav1.LabelSelectorAsSelector(&ls); err != nil {
		return allocator.Selector{}, err
	}
	s := allocator.Selector{}
	if len(ls.MatchLabels) > 0 {
		s.MatchLabels = make(map[string]string, len(ls.MatchLabels))
		for k, v := range ls.MatchLabels {
			s.MatchLabels[k] = v
		}
	}
	for _, e := range ls.MatchExpressions {
		s.MatchExpressions = append(s.MatchExpressions, allocator.Requirement{
			Key:      e.Key,
			Operator: allocator.Operator(e.Operator),
			Values:   append([]string(nil), e.Values...),
		})
	}
	if err := s.Validate(); err != nil {
		return allocator.Selector{}, err
	}
	return s, nil
}

// selectors converts a list of selectors, reporting each bad one under
// field[i].
func (t *translation) selectors(ref objectRef, field string, in []metav1.LabelSelector) ([]allocator.Selector, bool) {
	ok := true
	var out []allocator.Selector
	for i, ls := range in {
		s, err := selector(ls)
		if err != nil {
			t.add(ref.err(fmt.Sprintf("%s[%d]", field, i), ErrInvalidValue, "%v", err))
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

// SelectorsMatch reports whether labels match any of sels; no selectors
// match everything, as MetalLB's nodeSelectors do.
func SelectorsMatch(sels []allocator.Selector, labels map[string]string) bool {
	if len(sels) == 0 {
		return true
	}
	for _, s := range sels {
		if s.Matches(labels) {
			return true
		}
	}
	return false
}
