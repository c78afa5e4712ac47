package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
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
	nops := fs.Int("ops", 20000, "signed operations to send")
	batch := fs.Int("batch", 1, "operations per request (more than 1: POST /v1/batch)")
	readers := fs.Int("readers", 0, "clients looping on reads (GET /v1/info and an account) while the operations run; the server needs --rate-limit 0")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the sending phase (not the funding and signing) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tkPath == "" || *accounts < 2 || *conc < 1 || *nops < 1 || *nops > 10_000_000 || *batch < 1 || *batch > ledger.MaxBatchOps {
		return fmt.Errorf("bench: need --treasury-key, --accounts >= 2, --concurrency >= 1, 1 <= --ops <= 1e7, 1 <= --batch <= %d", ledger.MaxBatchOps)
	}
	tk, err := wallet.Load(*tkPath, nil)
	if err != nil {
		return err
	}
	// The funding, the readers and the checks use the ledger's client; the measured operations
	// go through httpConn.
	c := ledger.NewClient(*url, &http.Client{Timeout: time.Minute})
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

	// Pre-sign and pre-encode. Each job is one request, or a batch, holding one or more
	// operations; a worker sends its job's requests in order.
	var ops []ledger.BatchOp
	start := time.Now()
	expiry := uint64(time.Now().Add(time.Hour).Unix())
	for i := 0; len(ops) < *nops; i++ {
		payer, payee := keys[i%len(keys)], keys[(i+1)%len(keys)]
		nonce := ledger.NewNonce()
		switch *mix {
		case "transfer":
			r := &ledger.TransferRequest{To: payee.Address(), Amount: 1, Nonce: ledger.U64(nonce)}
			r.Sign(id, payer)
			ops = append(ops, ledger.BatchOp{Transfer: r})
		case "channel":
			o := &ledger.OpenRequest{Payee: payee.Public(), Amount: 100, Nonce: ledger.U64(nonce), Expiry: ledger.U64(expiry)}
			o.Sign(id, payer)
			m := o.Message(id)
			v := channel.SignVoucher(payer, channel.Voucher{Channel: m.ID(), Sequence: 1, Cumulative: 40})
			cl := ledger.NewCloseRequest(payer.Public(), payee.Public(), channel.SignClose(payee, v))
			ops = append(ops, ledger.BatchOp{Open: o}, ledger.BatchOp{Close: &ledger.BatchClose{Channel: m.ID(), CloseRequest: cl}})
		default:
			return fmt.Errorf("bench: unknown --mix %q", *mix)
		}
	}
	host, err := hostPort(*url)
	if err != nil {
		return err
	}
	type call struct {
		batch bool
		req   []byte // the whole HTTP request
		n     int    // operations in it
	}
	per := 1 // operations per job when not batching: a channel's open and close go in order
	if *mix == "channel" {
		per = 2
	}
	var jobs [][]call
	for i := 0; i < len(ops); {
		if *batch > 1 {
			n := min(*batch, len(ops)-i)
			if *mix == "channel" {
				n -= n % 2 // an open and its close travel together
			}
			b, err := json.Marshal(ledger.BatchRequest{Ops: ops[i : i+n]})
			if err != nil {
				return err
			}
			jobs = append(jobs, []call{{true, postRequest(host, "/v1/batch", b), n}})
			i += n
			continue
		}
		var job []call
		for _, op := range ops[i:min(i+per, len(ops))] {
			var path string
			var body []byte
			var err error
			switch {
			case op.Transfer != nil:
				path = "/v1/transfers"
				body, err = json.Marshal(op.Transfer)
			case op.Open != nil:
				path = "/v1/channels"
				body, err = json.Marshal(op.Open)
			default:
				path = "/v1/channels/" + op.Close.Channel.String() + "/close"
				body, err = json.Marshal(&op.Close.CloseRequest)
			}
			if err != nil {
				return err
			}
			job = append(job, call{req: postRequest(host, path, body), n: 1})
		}
		jobs = append(jobs, job)
		i += len(job)
	}
	requests := 0
	for _, j := range jobs {
		requests += len(j)
	}
	fmt.Fprintf(out, "presigned %d operations in %d requests in %v\n", len(ops), requests, time.Since(start).Round(time.Millisecond))

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	var next atomic.Int64
	var failures atomic.Int64
	lat := make([][]time.Duration, *conc)
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	var reads, readFailures atomic.Int64
	readCtx, stopReads := context.WithCancel(ctx)
	var rwg sync.WaitGroup
	if *readers > 0 {
		rc := ledger.NewClient(*url, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *readers, MaxConnsPerHost: *readers}, Timeout: time.Minute})
		for r := range *readers {
			rwg.Go(func() {
				a := keys[r%len(keys)].Address()
				for readCtx.Err() == nil {
					var err error
					if r%2 == 0 {
						_, err = rc.Info(readCtx)
					} else {
						_, err = rc.Balance(readCtx, a)
					}
					if err == nil {
						reads.Add(1)
					} else if readCtx.Err() == nil {
						readFailures.Add(1)
					}
				}
			})
		}
	}
	cpu0 := cpuTime()
	start = time.Now()
	for w := range *conc {
		wg.Go(func() {
			hc := &httpConn{addr: host, timeout: time.Minute}
			defer hc.close()
			for {
				j := next.Add(1) - 1
				if j >= int64(len(jobs)) || ctx.Err() != nil {
					return
				}
				for _, cl := range jobs[j] {
					t0 := time.Now()
					status, body, err := hc.do(cl.req)
					if err == nil {
						err = answerErr(status, body, cl.batch, cl.n)
					}
					d := time.Since(t0)
					for range cl.n {
						lat[w] = append(lat[w], d) // every operation in a batch waited as long
					}
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
	cpu := cpuTime() - cpu0
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	stopReads()
	rwg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return errors.New("bench: nothing sent")
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	fmt.Fprintf(out, "mix=%s ops=%d batch=%d concurrency=%d elapsed=%v\n", *mix, len(all), *batch, *conc, elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "throughput: %.0f ops/s\n", float64(len(all))/elapsed.Seconds())
	fmt.Fprintf(out, "latency: p50=%v p90=%v p99=%v max=%v\n", pct(0.50).Round(time.Microsecond),
		pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), all[len(all)-1].Round(time.Microsecond))
	fmt.Fprintf(out, "failures: %d\n", failures.Load())
	fmt.Fprintf(out, "generator cpu: %v (%.1f us/op)\n", cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(len(all)))
	if *readers > 0 {
		fmt.Fprintf(out, "reads: %d readers, %.0f reads/s, %d failed\n", *readers, float64(reads.Load())/elapsed.Seconds(), readFailures.Load())
	}
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

// answerErr is the error an answer carries: a ledger error for a status other than 200 and,
// for a batch, the first operation refused or a count of results other than n.
func answerErr(status int, body []byte, batch bool, n int) error {
	if status != http.StatusOK {
		e := &ledger.Error{Status: status}
		if json.Unmarshal(body, e) != nil || e.Code == "" {
			e.Code, e.Msg = "http_status", string(body)
		}
		return e
	}
	if !batch {
		return nil
	}
	var resp ledger.BatchResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("bench: batch answer: %w", err)
	}
	if len(resp.Results) != n {
		return fmt.Errorf("bench: batch of %d answered with %d results", n, len(resp.Results))
	}
	for i := range resp.Results {
		if err := resp.Results[i].Err(); err != nil {
			return err
		}
	}
	return nil
}

// cpuTime is the CPU time (user and system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
