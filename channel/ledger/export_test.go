package ledger

// NewView returns the committed view of d, as a writer keeps it, and the function that
// applies a commit's changes to it: tests compare it with the core.
func NewView(d *Data) (BridgeReader, func(*Data)) {
	v := newView(d, nil)
	return v, v.apply
}

// AppendTransferJSON is TransferResult's hand-written encoding.
func AppendTransferJSON(r *TransferResult) []byte { return r.appendJSON(nil) }
