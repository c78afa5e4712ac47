//go:build !linux

package boltstore

import "os"

// syncFlag makes each write to a log segment return once it is on disk.
const syncFlag = os.O_SYNC
