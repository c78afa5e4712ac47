package fuzz

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/vouchers"
)

// FuzzVoucherLog: a provider's voucher log read back after any damage never panics; it
// opens (a torn tail is cut) or fails with an error, and what it opens holds at most one
// entry per channel, each no longer than the file allowed.
func FuzzVoucherLog(f *testing.F) {
	k, _ := channel.GenerateKey()
	dir := f.TempDir()
	l, err := vouchers.Open(filepath.Join(dir, "seed.log"))
	if err != nil {
		f.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		l.Append(k.Public(), channel.SignVoucher(k, channel.Voucher{Channel: channel.ChannelID{byte(seq % 2)}, Sequence: seq, Cumulative: seq * 10}), 1e9)
	}
	l.Settled(channel.ChannelID{0}, 20)
	l.Close()
	seed, _ := os.ReadFile(filepath.Join(dir, "seed.log"))
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "v.log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := vouchers.Open(path)
		if err != nil {
			return
		}
		defer l.Close()
		if n := len(l.Pending()); n > len(data)/vouchers.RecordSize {
			t.Fatalf("%d entries from %d bytes", n, len(data))
		}
	})
}
