//go:build !linux

package bench

import "errors"

// FindListener needs /proc; elsewhere give the seeder's pid explicitly.
func FindListener(addr string) (int, error) {
	return 0, errors.New("finding a seeder's pid needs Linux /proc; pass it with --seeder-pid")
}
