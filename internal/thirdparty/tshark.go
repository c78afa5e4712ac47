package thirdparty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// captureSettle is how long Stop waits before ending the capture, so frames
// the kernel already delivered to the capture socket get written.
const captureSettle = 300 * time.Millisecond

// checkTimeout bounds one tshark decoding run.
const checkTimeout = 2 * time.Minute

// Capture is a running packet capture (dumpcap, tshark's capture engine).
type Capture struct {
	t    testing.TB
	p    *proc
	path string
}

// StartCapture starts capturing on iface ("lo") with a BPF filter (e.g.
// "port 6881 or port 6882"; empty for everything) and returns once dumpcap
// reports that it is capturing. The file is a classic pcap in a temporary
// directory. Cleanup stops the capture if Stop was not called.
func StartCapture(t testing.TB, iface, filter string) *Capture {
	t.Helper()
	// dumpcap is what tshark runs to capture; running it directly keeps the
	// capture one process, so the kernel's parent-death signal ends it if the
	// test process is killed (killing tshark can leave its dumpcap child running).
	bin := needTool(t, "dumpcap")
	dir := t.TempDir()
	c := &Capture{t: t, path: filepath.Join(dir, "capture.pcap")}
	args := []string{"-i", iface, "-P", "-w", c.path, "-q"}
	if filter != "" {
		args = append(args, "-f", filter)
	}
	c.p = startProc(t, "dumpcap", dir, exec.Command(bin, args...), false)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// dumpcap prints "Capturing on 'IFACE'" once the socket is open and the
	// filter attached.
	for {
		if b, _ := os.ReadFile(c.p.logPath); bytes.Contains(b, []byte("Capturing on")) {
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dumpcap: capture on %s did not start: %v", iface, ctx.Err())
		case <-c.p.done:
			t.Fatalf("dumpcap: capture on %s exited: %v", iface, c.p.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the capture and returns the path of the pcap file.
func (c *Capture) Stop() string {
	c.t.Helper()
	if !c.p.exited() {
		time.Sleep(captureSettle)
	}
	c.p.stop()
	if _, err := os.Stat(c.path); err != nil {
		c.p.dumpLog(c.t)
		c.t.Fatalf("dumpcap: no capture file: %v", err)
	}
	return c.path
}

// Expert is one tshark expert info item.
type Expert struct {
	Frame    int
	Severity string // "warning" or "error" (Report keeps only these)
	Group    string // e.g. "malformed", "undecoded", "sequence", "protocol"
	Message  string
}

// Report is what tshark made of a capture.
type Report struct {
	// Frames is the number of frames in the file.
	Frames int
	// Malformed lists the frames tshark flagged with _ws.malformed.
	Malformed []int
	// Experts lists expert infos of severity warning or error.
	Experts []Expert
	// Protocols counts, per protocol name in frame.protocols ("bittorrent",
	// "bt-utp", "bt-dht", "http", "data", ...), the frames that contain it.
	// "data" frames are payload no dissector took: a port the decode-as options
	// missed, or packets a dissector rejected.
	Protocols map[string]int
}

// String summarizes the report for test logs.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d frames, %d malformed", r.Frames, len(r.Malformed))
	names := make([]string, 0, len(r.Protocols))
	for p := range r.Protocols {
		names = append(names, p)
	}
	sort.Strings(names)
	b.WriteString("; protocols:")
	for _, p := range names {
		fmt.Fprintf(&b, " %s=%d", p, r.Protocols[p])
	}
	for _, e := range r.Experts {
		fmt.Fprintf(&b, "\n  frame %d: %s/%s: %s", e.Frame, e.Severity, e.Group, e.Message)
	}
	return b.String()
}

// Expect fails the test unless the capture has no malformed frames and at
// least one frame of each named protocol. Naming the protocol the test meant
// to check ("bittorrent", "bt-utp", "bt-dht") makes a capture where the
// dissector never ran a failure instead of a vacuous pass.
func (r Report) Expect(t testing.TB, protocols ...string) {
	t.Helper()
	if len(r.Malformed) > 0 {
		t.Errorf("tshark: malformed frames %v\n%s", r.Malformed, r)
	}
	for _, p := range protocols {
		if r.Protocols[p] == 0 {
			t.Errorf("tshark: no frame decoded as %s\n%s", p, r)
		}
	}
}

// tshark expert severities (epan/proto.h PI_*), as printed by -T json.
const (
	severityWarn  = 0x00600000
	severityError = 0x00800000
)

var expertGroups = map[int64]string{
	0x01000000: "checksum", 0x02000000: "sequence", 0x03000000: "response-code",
	0x04000000: "request-code", 0x05000000: "undecoded", 0x06000000: "reassemble",
	0x07000000: "malformed", 0x08000000: "debug", 0x09000000: "protocol",
	0x0a000000: "security", 0x0b000000: "comment", 0x0c000000: "decryption",
	0x0d000000: "assumption", 0x0e000000: "deprecated",
}

// CheckPcap decodes a capture with tshark, applying decode-as options such as
// "tcp.port==6881,bittorrent", "udp.port==6881,bt-utp" or
// "udp.port==6881,bt-dht" (each becomes one -d), and reports frame counts,
// malformed frames and warnings.
func CheckPcap(t testing.TB, pcap string, decodeAs ...string) Report {
	t.Helper()
	r, err := checkPcap(t, pcap, decodeAs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkPcap(t testing.TB, pcap string, decodeAs []string) (Report, error) {
	bin := needTool(t, "tshark")
	args := []string{"-r", pcap, "-n"}
	for _, d := range decodeAs {
		args = append(args, "-d", d)
	}
	args = append(args, "-T", "json",
		"-e", "frame.number", "-e", "frame.protocols", "-e", "_ws.malformed",
		"-e", "_ws.expert.severity", "-e", "_ws.expert.group", "-e", "_ws.expert.message")
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Report{}, fmt.Errorf("tshark %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return parseTsharkJSON(stdout.Bytes())
}

// parseTsharkJSON reads `tshark -T json -e ...` output (one object per frame,
// every field an array of strings).
func parseTsharkJSON(b []byte) (Report, error) {
	var frames []struct {
		Source struct {
			Layers map[string][]string `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(b, &frames); err != nil {
		return Report{}, fmt.Errorf("tshark json: %w", err)
	}
	r := Report{Frames: len(frames), Protocols: map[string]int{}}
	for _, f := range frames {
		l := f.Source.Layers
		num := 0
		if n := l["frame.number"]; len(n) > 0 {
			num, _ = strconv.Atoi(n[0])
		}
		// frame.protocols stops at the layer that threw, so it never names
		// _ws.malformed; the field itself is present on malformed frames.
		if len(l["_ws.malformed"]) > 0 {
			r.Malformed = append(r.Malformed, num)
		}
		seen := map[string]bool{}
		for _, ps := range l["frame.protocols"] {
			for _, p := range strings.Split(ps, ":") {
				if !seen[p] {
					seen[p] = true
					r.Protocols[p]++
				}
			}
		}
		sev, grp, msg := l["_ws.expert.severity"], l["_ws.expert.group"], l["_ws.expert.message"]
		for i, s := range sev {
			v, err := strconv.ParseInt(s, 0, 64)
			if err != nil || v < severityWarn {
				continue
			}
			e := Expert{Frame: num, Severity: "warning"}
			if v >= severityError {
				e.Severity = "error"
			}
			if i < len(grp) {
				g, _ := strconv.ParseInt(grp[i], 0, 64)
				e.Group = expertGroups[g]
				if e.Group == "" {
					e.Group = grp[i]
				}
			}
			if i < len(msg) {
				e.Message = msg[i]
			}
			r.Experts = append(r.Experts, e)
		}
	}
	return r, nil
}
