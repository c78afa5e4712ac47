package storage

import "sync"

// BlockSize is the size of the block buffers BufferPool hands out: the 16 KiB request
// size every mainstream client uses.
const BlockSize = 16 * 1024

// BufferPool recycles 16 KiB block buffers, for the wire reader (piece payloads) and for
// this package (out-of-order blocks waiting to be hashed, the send fallback). Buffers are
// fixed-size arrays behind pointers, so Get and Put do not allocate. The zero value is
// ready to use; share one pool among all torrents of a client.
type BufferPool struct {
	p sync.Pool
}

// Get returns a buffer; its contents are unspecified.
func (bp *BufferPool) Get() *[BlockSize]byte {
	if b, ok := bp.p.Get().(*[BlockSize]byte); ok {
		return b
	}
	return new([BlockSize]byte)
}

// Put returns a buffer to the pool. The caller must not use it afterwards.
func (bp *BufferPool) Put(b *[BlockSize]byte) {
	if b != nil {
		bp.p.Put(b)
	}
}
