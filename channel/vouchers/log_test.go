package vouchers

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
)

func voucher(t *testing.T, k *channel.PrivateKey, ch byte, seq, cum uint64) channel.SignedVoucher {
	t.Helper()
	return channel.SignVoucher(k, channel.Voucher{Channel: channel.ChannelID{ch}, Sequence: seq, Cumulative: cum, Piece: uint32(seq)})
}

func TestLogSurvivesReopen(t *testing.T) {
	k, _ := channel.GenerateKey()
	path := filepath.Join(t.TempDir(), "v.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if err := l.Append(k.Public(), voucher(t, k, 1, seq, seq*100), 99); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(k.Public(), voucher(t, k, 2, 1, 7), 99); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want locked", err)
	}
	// Without Close: a killed process's lock goes with its file descriptors.
	l.f.Close()
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p := l.Pending()
	if len(p) != 2 || p[0].Voucher.Cumulative != 500 || p[0].Voucher.Sequence != 5 || p[1].Voucher.Cumulative != 7 || p[0].Payer != k.Public() || p[0].Expiry != 99 {
		t.Fatalf("pending after reopen: %+v", p)
	}
	if err := channel.Validate(channel.State{ID: p[0].Voucher.Channel, Payer: k.Public(), Deposit: 1000, Expiry: 1 << 40}, p[0].Voucher, time.Unix(0, 0)); err != nil {
		t.Fatalf("stored voucher no longer verifies: %v", err)
	}
	first, err := l.Settled(channel.ChannelID{1}, 500)
	if err != nil || !first {
		t.Fatalf("settled: %v %v", first, err)
	}
	if first, _ := l.Settled(channel.ChannelID{1}, 500); first {
		t.Fatal("a settlement counted twice")
	}
	if err := l.Append(k.Public(), voucher(t, k, 1, 6, 600), 99); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Last(channel.ChannelID{1}); ok {
		t.Fatal("a settled channel is pending again")
	}
	l.Close()
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if p := l.Pending(); len(p) != 1 || p[0].Voucher.Channel != (channel.ChannelID{2}) {
		t.Fatalf("pending after settlement and reopen: %+v", p)
	}
	if fi, _ := os.Stat(path); fi.Size() != RecordSize {
		t.Fatalf("compacted log is %d bytes, want one record", fi.Size())
	}
}

func TestLogTornTail(t *testing.T) {
	k, _ := channel.GenerateKey()
	path := filepath.Join(t.TempDir(), "v.log")
	l, _ := Open(path)
	l.Append(k.Public(), voucher(t, k, 1, 1, 10), 99)
	l.Append(k.Public(), voucher(t, k, 1, 2, 20), 99)
	l.Close()
	data, _ := os.ReadFile(path)
	// A crash in the middle of the second record.
	os.WriteFile(path, data[:RecordSize+RecordSize/2], 0o600)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := l.Pending(); len(p) != 1 || p[0].Voucher.Cumulative != 10 {
		t.Fatalf("after a torn tail: %+v", p)
	}
	l.Close()
	// A flipped bit in a record that is not the last is corruption, not a tear.
	l, _ = Open(path)
	l.Append(k.Public(), voucher(t, k, 1, 3, 30), 99)
	l.Close()
	data, _ = os.ReadFile(path)
	data[5] ^= 1
	os.WriteFile(path, data, 0o600)
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt record: %v", err)
	}
}

func TestLogConcurrentAppends(t *testing.T) {
	k, _ := channel.GenerateKey()
	path := filepath.Join(t.TempDir(), "v.log")
	l, _ := Open(path)
	var wg sync.WaitGroup
	for ch := byte(0); ch < 8; ch++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(1); seq <= 20; seq++ {
				if err := l.Append(k.Public(), voucher(t, k, ch, seq, seq), 99); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	l, _ = Open(path)
	defer l.Close()
	p := l.Pending()
	if len(p) != 8 {
		t.Fatalf("%d channels pending, want 8", len(p))
	}
	for _, e := range p {
		if e.Voucher.Sequence != 20 {
			t.Errorf("channel %v: last sequence %d, want 20", e.Voucher.Channel, e.Voucher.Sequence)
		}
	}
}
