package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
)

// udpCapture is a live capture of some UDP ports on loopback, decoded afterwards with one
// dissector (bt-dht, bt-utp) on those ports.
type udpCapture struct {
	t         *testing.T
	live      *thirdparty.Capture
	tshark    string
	pcap      string
	decodeAs  []string // -d options
	dissector string
}

// startUDPCapture starts capturing and returns once packets really reach the file.
func startUDPCapture(t *testing.T, dissector string, ports []int) *udpCapture {
	t.Helper()
	c := &udpCapture{t: t, tshark: testutil.NeedTool(t, "tshark"), dissector: dissector}
	var filter []string
	for _, p := range ports {
		filter = append(filter, fmt.Sprintf("udp port %d", p))
		c.decodeAs = append(c.decodeAs, "-d", fmt.Sprintf("udp.port==%d,%s", p, dissector))
	}
	c.live = thirdparty.StartCapture(t, "lo", strings.Join(filter, " or "))
	// dumpcap reports "Capturing on" a moment before packets really flow into the file;
	// without a pause the first packets (a uTP SYN) can be missed.
	time.Sleep(500 * time.Millisecond)
	return c
}

// stop ends the capture and fails the test on any malformed frame.
func (c *udpCapture) stop() {
	c.t.Helper()
	if c.pcap != "" {
		return
	}
	c.pcap = c.live.Stop()
	if out := c.tsharkOut("-Y", "_ws.malformed"); len(bytes.TrimSpace(out)) != 0 {
		c.t.Errorf("tshark found malformed %s frames:\n%s", c.dissector, out)
	}
}

// fields returns one value of field for each frame that matches filter.
func (c *udpCapture) fields(filter, field string) []string {
	c.t.Helper()
	return strings.Fields(string(c.tsharkOut("-Y", filter, "-T", "fields", "-e", field)))
}

// frames is the number of frames captured.
func (c *udpCapture) frames() int {
	c.t.Helper()
	return len(strings.Fields(string(c.tsharkOut("-T", "fields", "-e", "frame.number"))))
}

func (c *udpCapture) tsharkOut(args ...string) []byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.tshark, append(append([]string{"-r", c.pcap}, c.decodeAs...), args...)...).Output()
	if err != nil {
		c.t.Fatalf("tshark: %v", err)
	}
	return out
}
