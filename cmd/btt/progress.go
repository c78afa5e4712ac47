package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/peer"
)

// progress reports a torrent's state: a redrawn bar on a terminal, plain lines otherwise
// (logs, pipes, CI), so the output is readable in both.
type progress struct {
	w        io.Writer
	terminal bool
	interval time.Duration
	speed    bool // show Speed state (bids, prices, slots)
}

func newProgress(f *os.File) *progress {
	p := &progress{w: f, interval: 2 * time.Second}
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		p.terminal = true
		p.interval = 250 * time.Millisecond
	}
	return p
}

// run reports until the torrent completes (untilComplete) or ctx ends. Seeding runs until ctx
// ends, which is the normal way to stop it, so that returns nil.
func (p *progress) run(ctx context.Context, t *peer.Torrent, untilComplete bool) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var prev peer.Stats
	prevAt := time.Now()
	for {
		var done <-chan struct{}
		if untilComplete {
			done = t.Complete()
		}
		select {
		case <-ctx.Done():
			p.finish()
			if untilComplete {
				return ctx.Err()
			}
			return nil
		case <-done:
			p.line(t, t.Stats(), prev, time.Since(prevAt))
			p.finish()
			return nil
		case <-tick.C:
			s := t.Stats()
			p.line(t, s, prev, time.Since(prevAt))
			prev, prevAt = s, time.Now()
		}
	}
}

func (p *progress) line(t *peer.Torrent, s, prev peer.Stats, dt time.Duration) {
	down := float64(s.Downloaded-prev.Downloaded) / dt.Seconds()
	up := float64(s.Uploaded-prev.Uploaded) / dt.Seconds()
	pct := 100.0
	if s.Length > 0 {
		pct = 100 * float64(s.BytesDone) / float64(s.Length)
	}
	eta := "-"
	if down > 0 && !s.Complete {
		eta = (time.Duration(float64(s.Length-s.BytesDone)/down) * time.Second).Round(time.Second).String()
	}
	text := fmt.Sprintf("%5.1f%% %d/%d pieces  down %s/s  up %s/s  peers %d  unchoked %d  eta %s",
		pct, s.PiecesDone, s.Pieces, human(down), human(up), s.Peers, s.Unchoked, eta)
	if s.HashFailures > 0 || s.Banned > 0 {
		text += fmt.Sprintf("  hashfail %d banned %d", s.HashFailures, s.Banned)
	}
	if p.speed {
		text += speedSummary(t.Speed(), s)
	}
	if !p.terminal {
		fmt.Fprintln(p.w, text)
		return
	}
	const width = 24
	filled := int(pct / 100 * width)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	fmt.Fprintf(p.w, "\r[%s] %s\x1b[K", bar, text)
}

func (p *progress) finish() {
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}

// human formats a byte count with binary units.
func human(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// speedSummary shows the Speed side of a torrent: our bid and what providers charge us, and
// as a provider our reserve and the auction's winners.
func speedSummary(st peer.SpeedStatus, s peer.Stats) string {
	if !st.Enabled {
		return ""
	}
	var won, paying int
	var price, charged uint64
	for _, p := range st.Peers {
		if p.QuotedN > 0 {
			won++
			price = p.Quoted
		}
		if p.Paying {
			paying++
			charged = p.Price
		}
	}
	out := fmt.Sprintf("  | speed: bid %s", perGiB(st.Bid))
	if won > 0 {
		out += fmt.Sprintf(", won %d slot(s) at %s", won, perGiB(price))
	}
	out += fmt.Sprintf(", reserve %s", perGiB(st.Reserve))
	if paying > 0 {
		out += fmt.Sprintf(", %d bidder(s) unchoked at %s", paying, perGiB(charged))
	}
	if s.VouchersSent > 0 {
		out += fmt.Sprintf(", spent %s BTT", channel.FormatBTT(uint64(s.Spent)))
	}
	if s.VouchersAccepted > 0 {
		out += fmt.Sprintf(", earned %s BTT (settled %s)", channel.FormatBTT(uint64(s.Earned)), channel.FormatBTT(uint64(s.Settled)))
	}
	return out
}

func perGiB(units uint64) string { return channel.FormatBTT(units) + " BTT/GiB" }
