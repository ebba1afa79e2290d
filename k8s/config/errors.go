package config

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels that Error.Err wraps; match them with errors.Is.
var (
	// ErrInvalidValue: a field's value is malformed or out of range.
	ErrInvalidValue = errors.New("invalid value")
	// ErrNotFound: a field refers to an object, key or alias that does not
	// exist (pool, peer, BFD profile, Secret, community alias).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object contradicts another one (overlapping pools,
	// duplicate names, different myASN on one node).
	ErrConflict = errors.New("conflict")
)

// Error is one problem with one object.
type Error struct {
	// Kind, Namespace and Name identify the object, e.g. "IPAddressPool",
	// "metallb-system", "example".
	Kind, Namespace, Name string
	// Field is the path of the offending field, e.g. "spec.addresses[1]".
	Field string
	// Err says what is wrong; it wraps ErrInvalidValue, ErrNotFound or
	// ErrConflict.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %s: %v", e.Kind, e.Object(), e.Field, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Object returns "namespace/name", or "name" for a cluster-scoped object.
func (e *Error) Object() string {
	if e.Namespace == "" {
		return e.Name
	}
	return e.Namespace + "/" + e.Name
}

// Errors lists the problems Translate found, in a deterministic order.
type Errors []*Error

// Err returns the errors joined, or nil when there are none.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Error joins the messages, one per line.
func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.Is and errors.As look at each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// For returns the errors about one object.
func (es Errors) For(kind, namespace, name string) Errors {
	var out Errors
	for _, e := range es {
		if e.Kind == kind && e.Namespace == namespace && e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// objectRef identifies an object while errors about it are collected.
type objectRef struct{ kind, namespace, name string }

func (o objectRef) err(field string, sentinel error, format string, args ...any) *Error {
	return &Error{
		Kind: o.kind, Namespace: o.namespace, Name: o.name, Field: field,
		Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...)),
	}
}
