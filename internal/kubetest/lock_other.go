//go:build !unix

package kubetest

import (
	"context"
	"time"
)

// lockFile is a no-op where flock is unavailable; the atomic rename still
// keeps partial binaries out of the cache.
func lockFile(context.Context, string, time.Duration) (func(), error) {
	return func() {}, nil
}
