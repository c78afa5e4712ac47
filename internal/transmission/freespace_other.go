//go:build !unix

package transmission

import "errors"

func freeBytes(string) (int64, error) { return 0, errors.New("not supported on this system") }
