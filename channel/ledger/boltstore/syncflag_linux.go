package boltstore

import "syscall"

// syncFlag makes each write to a log segment return once its data is on disk: one syscall
// per record, where write and fdatasync would be two.
const syncFlag = syscall.O_DSYNC
