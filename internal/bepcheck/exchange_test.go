package bepcheck

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
)

// step is one message of the example exchange: who sends it, what it is, its bytes.
type step struct {
	name string // the label in the draft: ".. exchange-NAME" blocks
	text bool   // JSON (shown as text) rather than hex
	b    []byte
}

func key(t *testing.T, scalar byte) *channel.PrivateKey {
	t.Helper()
	var d [32]byte
	d[31] = scalar
	k, err := channel.NewPrivateKey(d[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// exchange builds the draft's example: requester R (key 1*G) downloads a one-piece torrent
// (16 KiB) from provider P (key 2*G), pays 2 BTT/GiB through a channel on the ledger whose
// id is the bytes 00..1f, and P settles.
func exchange(t *testing.T) []step {
	kR, kP := key(t, 1), key(t, 2)
	ih, _ := hex.DecodeString("74a323f732e746deac9e29e6e8428d78a68b92cd")
	var ledgerID channel.LedgerID
	for i := range ledgerID {
		ledgerID[i] = byte(i)
	}
	const ledgerURL = "http://127.0.0.1:7070"
	hs := func(id string) []byte {
		h := wire.Handshake{}
		copy(h.InfoHash[:], ih)
		copy(h.PeerID[:], id)
		h.Reserved.SetFast(true)
		h.Reserved.SetExtended(true)
		return wire.AppendHandshake(nil, h)
	}
	ext := func() []byte {
		p := wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{
			M: map[string]int{wire.SpeedExtName: 3}, Extra: map[string]bencode.RawMessage{wire.SpeedVersionKey: bencode.RawMessage("i1e")}})
		return append(wire.AppendExtendedHeader(nil, 0, len(p)), p...)
	}
	speed := func(m wire.SpeedMessage) []byte {
		p, err := wire.AppendSpeedMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return append(wire.AppendExtendedHeader(nil, 3, len(p)), p...)
	}
	msg := func(m wire.Message) []byte { return wire.AppendMessage(nil, m) }

	const price = 2 * bidext.UnitsPerBTT
	owed, err := bidext.Owed(price, 16384)
	if err != nil {
		t.Fatal(err)
	}
	open := ledger.OpenRequest{Payee: kP.Public(), Amount: 1_000_000, Nonce: 1, Expiry: 1_767_225_600}
	open.Sign(ledgerID, kR)
	openMsg := open.Message(ledgerID)
	chID := openMsg.ID()
	var openLayout []byte
	openLayout, _ = openMsg.AppendBinary(nil)
	v := channel.SignVoucher(kR, channel.Voucher{Channel: chID, Sequence: 1, Cumulative: owed, Piece: 0})
	vb, _ := v.Voucher.AppendBinary(nil)
	cl := channel.SignClose(kP, v)
	closeReq := ledger.NewCloseRequest(kR.Public(), kP.Public(), cl)
	js := func(x any) []byte {
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var salt [16]byte
	for i := range salt {
		salt[i] = byte(i)
	}
	return []step{
		{name: "1-handshake-r", b: hs("-BT0100-requester001")},
		{name: "2-handshake-p", b: hs("-BT0100-provider0002")},
		{name: "3-ext-r", b: ext()},
		{name: "4-ext-p", b: ext()},
		{name: "5-have-all-p", b: msg(wire.Message{Type: wire.HaveAll})},
		{name: "6-reserve-p", b: speed(wire.SpeedMessage{Type: wire.SpeedReservePrice, Price: 100_000, Piece: 0, Chunk: 0, Salt: salt})},
		{name: "7-interested-r", b: msg(wire.Message{Type: wire.Interested})},
		{name: "8-bid-r", b: speed(wire.SpeedMessage{Type: wire.SpeedBid, Price: 2_500_000})},
		{name: "9-bid-response-p", b: speed(wire.SpeedMessage{Type: wire.SpeedBidResponse, Price: price, Key: kP.Public(), Ledger: ledgerURL})},
		{name: "10-unchoke-p", b: msg(wire.Message{Type: wire.Unchoke})},
		{name: "11-open-layout", b: openLayout},
		{name: "12-channel-id", b: chID[:]},
		{name: "13-open-request", text: true, b: js(&open)},
		{name: "14-channel-open-r", b: speed(wire.SpeedMessage{Type: wire.SpeedChannelOpen, Channel: chID})},
		{name: "15-request-r", b: msg(wire.Message{Type: wire.Request, Index: 0, Begin: 0, Length: 16384})},
		{name: "16-piece-p", b: wire.AppendPieceHeader(nil, 0, 0, 16384)},
		{name: "17-have-r", b: msg(wire.Message{Type: wire.Have, Index: 0})},
		{name: "18-voucher-layout", b: vb},
		{name: "19-voucher-r", b: speed(wire.SpeedMessage{Type: wire.SpeedVoucher, Voucher: [wire.SpeedVoucherSize]byte(vb), Sig: v.Sig})},
		{name: "20-payment-ack-p", b: speed(wire.SpeedMessage{Type: wire.SpeedPaymentAck, Channel: chID, Seq: 1})},
		{name: "21-close-request", text: true, b: js(&closeReq)},
	}
}

// blockRE finds the draft's example blocks: a comment naming the step, then a literal block.
var blockRE = regexp.MustCompile(`(?m)^\.\. exchange-([0-9a-z-]+)\n\n::\n\n((?:    .*\n|\n)+)`)

// TestExchangeInDraft: every step of the example exchange in docs/bep-speed.md is exactly
// what the code produces, and the draft has every step. BTT_BEP_PRINT=1 prints the blocks.
func TestExchangeInDraft(t *testing.T) {
	steps := exchange(t)
	if os.Getenv("BTT_BEP_PRINT") != "" {
		for _, s := range steps {
			fmt.Printf(".. exchange-%s\n\n::\n\n%s\n", s.name, render(s))
		}
	}
	doc, err := os.ReadFile(testutil.ModuleRoot(t) + "/docs/bep-speed.md")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, m := range blockRE.FindAllStringSubmatch(string(doc), -1) {
		found[m[1]] = m[2]
	}
	for _, s := range steps {
		got, ok := found[s.name]
		if !ok {
			t.Errorf("docs/bep-speed.md has no block for step %s", s.name)
			continue
		}
		if want := render(s); strings.TrimRight(got, "\n") != strings.TrimRight(want, "\n") {
			t.Errorf("step %s: the draft says\n%s\nthe code builds\n%s", s.name, got, want)
		}
	}
	if len(found) != len(steps) {
		t.Errorf("the draft has %d exchange blocks, the code %d steps", len(found), len(steps))
	}
}

// render is a step as the draft prints it: hex in lines of 32 bytes, or the JSON text
// (indented by two spaces, as the ledger accepts any JSON layout), as a literal block.
func render(s step) string {
	var b bytes.Buffer
	if s.text {
		for _, line := range strings.Split(string(s.b), "\n") {
			fmt.Fprintf(&b, "    %s\n", line)
		}
		return b.String()
	}
	for i := 0; i < len(s.b); i += 32 {
		fmt.Fprintf(&b, "    %x\n", s.b[i:min(i+32, len(s.b))])
	}
	return b.String()
}
