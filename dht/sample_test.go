package dht_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/dht/krpc"
)

// TestSampleInfohashes: BEP 51. With 30 info-hashes stored, a sample_infohashes reply counts
// them all (num), carries a sample of distinct stored ones in 20-byte units, an interval,
// closest nodes, and stays within the reply-size bound.
func TestSampleInfohashes(t *testing.T) {
	p := newProbe(t, dht.Config{})
	stored := map[dht.ID]bool{}
	for i := range 30 {
		var id dht.ID
		id[0], id[19] = byte(i), 0x5a
		stored[id] = true
		if !p.node.AddLocalPeer(id, netip.MustParseAddrPort("10.0.0.1:6881")) {
			t.Fatal("AddLocalPeer refused")
		}
	}
	r, qlen, rlen := p.ask(q("sample_infohashes", krpc.Args{ID: idA, Target: ih}), a1)
	if r == nil || r.Y != "r" {
		t.Fatalf("reply %+v", r)
	}
	if got := string(r.R.Extra["num"]); got != "i30e" {
		t.Errorf("num = %s, want i30e", got)
	}
	if got := string(r.R.Extra["interval"]); got != "i600e" {
		t.Errorf("interval = %s", got)
	}
	raw := r.R.Extra["samples"]
	_, samples, ok := bytes.Cut(raw, []byte(":"))
	if !ok || len(samples) == 0 || len(samples)%20 != 0 || len(samples) > 20*20 {
		t.Fatalf("samples %q", raw)
	}
	seen := map[dht.ID]bool{}
	for i := 0; i < len(samples); i += 20 {
		id := dht.ID(samples[i : i+20])
		if !stored[id] || seen[id] {
			t.Errorf("sample %x not stored or repeated", id)
		}
		seen[id] = true
	}
	if rlen > 8*qlen {
		t.Errorf("reply %d bytes for a %d-byte query", rlen, qlen)
	}
	t.Logf("%d samples in a %d-byte reply to a %d-byte query", len(seen), rlen, qlen)
}
