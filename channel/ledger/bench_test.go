package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// BenchmarkHTTPTransfer measures signed transfers through the real HTTP server and bbolt
// store with durable group commits, from concurrent keep-alive clients on loopback.
// Requests are signed before the timer starts.
func BenchmarkHTTPTransfer(b *testing.B) {
	tl := startLedger(b, filepath.Join(b.TempDir(), "l.db"))
	ctx := context.Background()
	keys := make([]*channel.PrivateKey, 32)
	for i := range keys {
		keys[i] = key(b, 500+i)
		if _, err := tl.c.Transfer(ctx, tl.treasury, keys[i].Address(), 1<<40); err != nil {
			b.Fatal(err)
		}
	}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		r := ledger.TransferRequest{To: keys[(i+1)%len(keys)].Address(), Amount: 1, Nonce: ledger.U64(i)}
		r.Sign(tl.id, keys[i%len(keys)])
		bodies[i], _ = json.Marshal(&r)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: time.Minute}
	var next atomic.Int64
	b.SetParallelism(128)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			resp, err := hc.Post(tl.srv.URL+"/v1/transfers", "application/json", bytes.NewReader(bodies[i]))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	st := tl.l.Stats()
	if st.Commits > 0 {
		b.ReportMetric(float64(st.Ops)/float64(st.Commits), "ops/commit")
		b.ReportMetric(float64(st.CommitTime.Microseconds())/float64(st.Commits), "µs/commit")
	}
}

// BenchmarkCoreTransfer measures the single writer's state transition alone.
func BenchmarkCoreTransfer(b *testing.B) {
	tr := key(b, 0)
	c := newCore(b, tr)
	now := time.Now()
	src, dst := tr.Address(), key(b, 1).Address()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		op := ledger.Transfer{From: src, To: dst, Amount: 1, Nonce: uint64(i)}
		if _, err := c.Apply(now, op); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 0 {
			c.TakeChanges()
		}
	}
}
