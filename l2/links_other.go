//go:build !linux

package l2

import "errors"

func netlinkLinks() ([]Link, error) {
	return nil, errors.New("l2: listing interfaces needs Linux")
}
