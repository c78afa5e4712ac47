package utp

// ring is a byte FIFO that grows on demand; the receive path copies each in-order
// payload into it once and Read copies it out, so steady-state receiving does not
// allocate. The caller enforces the size limit.
type ring struct {
	buf        []byte
	head, size int
}

func (r *ring) len() int { return r.size }

// write appends p, growing the buffer if needed.
func (r *ring) write(p []byte) {
	if len(p) == 0 {
		return // an empty DATA packet; the buffer may not even exist yet
	}
	if r.size+len(p) > len(r.buf) {
		nb := make([]byte, max(2*len(r.buf), r.size+len(p), 16<<10))
		n := r.size
		r.read(nb[:n])
		r.buf, r.head, r.size = nb, 0, n
	}
	tail := (r.head + r.size) % len(r.buf)
	n := copy(r.buf[tail:], p)
	copy(r.buf, p[n:])
	r.size += len(p)
}

// read moves up to len(p) bytes into p.
func (r *ring) read(p []byte) int {
	if r.size == 0 {
		return 0
	}
	n := min(len(p), r.size)
	end := min(r.head+n, len(r.buf))
	c := copy(p, r.buf[r.head:end])
	copy(p[c:n], r.buf)
	r.head = (r.head + n) % len(r.buf)
	r.size -= n
	if r.size == 0 {
		r.head = 0
	}
	return n
}
