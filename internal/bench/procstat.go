package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Usage is what a process spent over a measurement.
type Usage struct {
	PID        int     `json:"pid,omitempty"`
	CPUSeconds float64 `json:"cpu_s"`          // user+system over the measurement
	CPUPerGiB  float64 `json:"cpu_s_per_gib"`  // CPUSeconds per GiB moved
	RSS        int64   `json:"rss_bytes"`      // resident at the end (or the largest sampled)
	PeakRSS    int64   `json:"peak_rss_bytes"` // VmHWM: the process's high-water mark
	// Anon is the largest RssAnon sampled (heap and stacks, not the file pages a seeder
	// maps, which are shared page cache): the figure to divide by connections.
	Anon  int64 `json:"anon_bytes"`
	Anon0 int64 `json:"anon_start_bytes"` // RssAnon when the measurement began
}

// ProcCPU returns the user+system CPU seconds a running process has used, from /proc.
func ProcCPU(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces) start after the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// ProcMem returns a running process's resident set (VmRSS) and its high-water mark
// (VmHWM), in bytes.
func ProcMem(pid int) (rss, peak int64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	kb := func(v string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		return n << 10
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = kb(v)
		} else if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			peak = kb(v)
		}
	}
	if rss == 0 && peak == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return rss, peak, nil
}

// sampleProc follows a process over a run: CPU at the start, the largest RSS seen.
type sampleProc struct {
	pid            int
	maxRSS         int64
	anon0, maxAnon int64
}

func startSample(pid int) (*sampleProc, error) {
	s := &sampleProc{pid: pid}
	if _, err := ProcCPU(pid); err != nil {
		return nil, fmt.Errorf("seeder pid %d: %w", pid, err)
	}
	s.anon0, _ = ProcAnon(pid)
	s.sample()
	return s, nil
}

func (s *sampleProc) cpu() (float64, error) { return ProcCPU(s.pid) }

func (s *sampleProc) sample() {
	if rss, _, err := ProcMem(s.pid); err == nil {
		s.maxRSS = max(s.maxRSS, rss)
	}
	if a, err := ProcAnon(s.pid); err == nil {
		s.maxAnon = max(s.maxAnon, a)
	}
}

func (s *sampleProc) finish(cpu0 float64, bytes int64) (*Usage, error) {
	cpu1, err := ProcCPU(s.pid)
	if err != nil {
		return nil, fmt.Errorf("seeder pid %d: %w", s.pid, err)
	}
	s.sample()
	_, peak, _ := ProcMem(s.pid)
	u := newUsage(s.pid, cpu1-cpu0, bytes, s.maxRSS, peak)
	u.Anon, u.Anon0 = s.maxAnon, s.anon0
	return u, nil
}

func newUsage(pid int, cpu float64, bytes, rss, peak int64) *Usage {
	u := &Usage{PID: pid, CPUSeconds: cpu, RSS: rss, PeakRSS: peak}
	if bytes > 0 {
		u.CPUPerGiB = cpu / (float64(bytes) / (1 << 30))
	}
	return u
}

// ProcAnon returns a running process's anonymous resident memory (RssAnon): its heap and
// stacks, without the file pages it maps. libtorrent 2 maps the files it serves, so its
// VmHWM counts the payload's page cache; RssAnon is what it allocated.
func ProcAnon(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no RssAnon", pid)
}

// anonPoll is how often watchAnon samples: often enough to catch a peak that lasts a
// fraction of a second transfer, cheap enough (one small /proc read) not to be measured.
const anonPoll = 50 * time.Millisecond

// watchAnon samples the RssAnon of pids until the returned function is called, which
// returns the largest seen for each (0 for a pid that could not be read).
func watchAnon(pids ...int) func() []int64 {
	peak := make([]int64, len(pids))
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		for i, pid := range pids {
			if a, err := ProcAnon(pid); err == nil {
				peak[i] = max(peak[i], a)
			}
		}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(anonPoll)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() []int64 { // safe to call again (a deferred call after the explicit one)
		once.Do(func() { close(done) })
		<-finished
		return peak
	}
}
