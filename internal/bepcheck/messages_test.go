package bepcheck

import (
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
)

var msgRE = regexp.MustCompile(`(?m)^\.\. msg-([a-z-]+)\n\n::\n\n((?:    .*\n|\n)+)`)

// TestMessagesInDraft: every example message of sections 2-4 of docs/bep-speed.md is what
// the wire encoder produces from the example's stated values.
func TestMessagesInDraft(t *testing.T) {
	doc, err := os.ReadFile(testutil.ModuleRoot(t) + "/docs/bep-speed.md")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]byte{}
	for _, m := range msgRE.FindAllStringSubmatch(string(doc), -1) {
		b, err := hex.DecodeString(strings.Join(strings.Fields(m[2]), ""))
		if err != nil {
			t.Fatalf("block %s: %v", m[1], err)
		}
		found[m[1]] = b
	}
	kR, kP := key(t, 1), key(t, 2)
	chID, _ := hex.DecodeString("dff5b52d16eb9a4e74970736df7d2032bc57413fd6c6758c7617a810088b92f5")
	ih, _ := hex.DecodeString("74a323f732e746deac9e29e6e8428d78a68b92cd")
	var salt [16]byte
	for i := range salt {
		salt[i] = byte(i)
	}
	payload := func(m wire.SpeedMessage) []byte {
		b, err := wire.AppendSpeedMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bid := payload(wire.SpeedMessage{Type: wire.SpeedBid, Price: 2_500_000})
	v := channel.SignVoucher(kR, channel.Voucher{Channel: channel.ChannelID(chID), Sequence: 1, Cumulative: 488, Piece: 7})
	vb, _ := v.Voucher.AppendBinary(nil)
	if owed, _ := bidext.Owed(2*bidext.UnitsPerBTT, 256<<10); owed != 488 {
		t.Fatalf("2 BTT/GiB for 256 KiB is %d units, the draft says 488", owed)
	}
	want := map[string][]byte{
		"handshake-speed": wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{
			M: map[string]int{wire.SpeedExtName: 3}, Extra: map[string]bencode.RawMessage{wire.SpeedVersionKey: bencode.RawMessage("i1e")}}),
		"bid-framed":    append(wire.AppendExtendedHeader(nil, 3, len(bid)), bid...),
		"bid":           bid,
		"bid-response":  payload(wire.SpeedMessage{Type: wire.SpeedBidResponse, Price: 2 * bidext.UnitsPerBTT, Key: kP.Public(), Ledger: "http://127.0.0.1:7070"}),
		"reserve-price": payload(wire.SpeedMessage{Type: wire.SpeedReservePrice, Price: 100_000, Piece: 7, Chunk: 2, Salt: salt}),
		"source-proof": payload(wire.SpeedMessage{Type: wire.SpeedSourceProof, Piece: 7, Chunk: 2, Salt: salt,
			Proof: bidext.SourceProof(salt, ih, 7, 2, []byte("speedspeedspeed"))}),
		"channel-open":   payload(wire.SpeedMessage{Type: wire.SpeedChannelOpen, Channel: [32]byte(chID)}),
		"voucher":        payload(wire.SpeedMessage{Type: wire.SpeedVoucher, Voucher: [wire.SpeedVoucherSize]byte(vb), Sig: v.Sig}),
		"payment-ack":    payload(wire.SpeedMessage{Type: wire.SpeedPaymentAck, Channel: [32]byte(chID), Seq: 1}),
		"payment-reject": payload(wire.SpeedMessage{Type: wire.SpeedPaymentReject, Channel: [32]byte(chID), Seq: 2, Reason: wire.SpeedRejectSequence}),
	}
	for name, w := range want {
		got, ok := found[name]
		if !ok {
			t.Errorf("docs/bep-speed.md has no example %s", name)
			continue
		}
		if string(got) != string(w) {
			t.Errorf("example %s: the draft says\n%x\nthe code builds\n%x", name, got, w)
		}
	}
	if len(found) != len(want) {
		t.Errorf("the draft has %d message examples, the test knows %d", len(found), len(want))
	}
}
