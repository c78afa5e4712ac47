package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
)

// runBench is a load generator: it funds a set of accounts from the treasury, pre-signs
// the operations (so the signing cost of the generator does not count against the ledger),
// then sends them from many concurrent connections and reports throughput and latency.
func runBench(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("btt-ledger bench", flag.ContinueOnError)
	url := fs.String("ledger", "http://127.0.0.1:7000", "ledger URL")
	tkPath := fs.String("treasury-key", "", "treasury wallet file (funds the bench accounts)")
	mix := fs.String("mix", "transfer", "operations: transfer or channel (open + close pairs)")
	accounts := fs.Int("accounts", 64, "accounts to spread the load over")
	conc := fs.Int("concurrency", 64, "concurrent requests")
	ops := fs.Int("ops", 20000, "signed operations to send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tkPath == "" || *accounts < 2 || *conc < 1 || *ops < 1 || *ops > 10_000_000 {
		return errors.New("bench: need --treasury-key, --accounts >= 2, --concurrency >= 1, 1 <= --ops <= 1e7")
	}
	tk, err := wallet.Load(*tkPath, nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}, Timeout: time.Minute}
	c := ledger.NewClient(*url, hc)
	id, err := c.LedgerID(ctx)
	if err != nil {
		return err
	}
	keys := make([]*channel.PrivateKey, *accounts)
	for i := range keys {
		if keys[i], err = channel.GenerateKey(); err != nil {
			return err
		}
		if _, err := c.Transfer(ctx, tk, keys[i].Address(), 1_000_000*channel.UnitsPerBTT); err != nil {
			return fmt.Errorf("funding: %w", err)
		}
	}

	// Pre-sign. Each job is one or two requests sent in order by one worker.
	type call struct {
		path string
		body any
	}
	var jobs [][]call
	start := time.Now()
	expiry := uint64(time.Now().Add(time.Hour).Unix())
	for i := 0; i < *ops; i++ {
		if *mix == "channel" && 2*i >= *ops {
			break
		}
		payer, payee := keys[i%len(keys)], keys[(i+1)%len(keys)]
		nonce := ledger.NewNonce()
		switch *mix {
		case "transfer":
			r := &ledger.TransferRequest{To: payee.Address(), Amount: 1, Nonce: ledger.U64(nonce)}
			r.Sign(id, payer)
			jobs = append(jobs, []call{{"/v1/transfers", r}})
		case "channel":
			o := &ledger.OpenRequest{Payee: payee.Public(), Amount: 100, Nonce: ledger.U64(nonce), Expiry: ledger.U64(expiry)}
			o.Sign(id, payer)
			m := o.Message(id)
			v := channel.SignVoucher(payer, channel.Voucher{Channel: m.ID(), Sequence: 1, Cumulative: 40})
			cl := ledger.NewCloseRequest(payer.Public(), payee.Public(), channel.SignClose(payee, v))
			jobs = append(jobs, []call{{"/v1/channels", o}, {"/v1/channels/" + m.ID().String() + "/close", &cl}})
		default:
			return fmt.Errorf("bench: unknown --mix %q", *mix)
		}
	}
	fmt.Fprintf(out, "presigned %d jobs in %v\n", len(jobs), time.Since(start).Round(time.Millisecond))

	var next atomic.Int64
	var failures atomic.Int64
	lat := make([][]time.Duration, *conc)
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start = time.Now()
	for w := range *conc {
		wg.Go(func() {
			for {
				j := next.Add(1) - 1
				if j >= int64(len(jobs)) || ctx.Err() != nil {
					return
				}
				for _, cl := range jobs[j] {
					t0 := time.Now()
					err := c.Post(ctx, cl.path, cl.body, nil)
					lat[w] = append(lat[w], time.Since(t0))
					if err != nil {
						failures.Add(1)
						errOnce.Do(func() { firstErr = err })
						break
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return errors.New("bench: nothing sent")
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	fmt.Fprintf(out, "mix=%s ops=%d concurrency=%d elapsed=%v\n", *mix, len(all), *conc, elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "throughput: %.0f ops/s\n", float64(len(all))/elapsed.Seconds())
	fmt.Fprintf(out, "latency: p50=%v p90=%v p99=%v max=%v\n", pct(0.50).Round(time.Microsecond),
		pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), all[len(all)-1].Round(time.Microsecond))
	fmt.Fprintf(out, "failures: %d\n", failures.Load())
	if firstErr != nil {
		return fmt.Errorf("bench: first failure: %w", firstErr)
	}
	in, err := c.Info(ctx)
	if err != nil {
		return err
	}
	if in.Total != in.Supply {
		return fmt.Errorf("bench: ledger total %d != supply %d", in.Total, in.Supply)
	}
	fmt.Fprintf(out, "supply check: total %s BTT == genesis\n", channel.FormatBTT(uint64(in.Total)))
	return nil
}
