package tracker

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

// The examples of docs/bep-speed.md section 10, byte for byte.
var (
	docTopQuery    = "info_hash=%124Vx%9A%BC%DE%F0%124Vx%9A%BC%DE%F0%124Vx&peer_id=-BT0001-000000000001&port=6881&uploaded=0&downloaded=0&left=1048576&numwant=50&key=0000002A&compact=1&bid=2500000&top=3&min_bid=1000000"
	docTopReply    = "d4:bidsli3000000ei2000000ee8:completei1e10:incompletei4e8:intervali1800e12:min intervali900e5:peers12:\x7f\x00\x00\x02\x1a\xe1\x0a\x00\x00\x07\xc8\xd5e"
	docUDPTopReply = "0000535000000001000007080000000400000001" + "7f0000021ae100000000002dc6c0" + "0a000007c8d500000000001e8480"
	docBidScrape   = "d4:bidsld5:counti3e4:highi3000000e9:info_hash20:\x124Vx\x9a\xbc\xde\xf0\x124Vx\x9a\xbc\xde\xf0\x124Vxee4:nexti1ee"
)

func docRequest() AnnounceRequest {
	ih := [20]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78}
	r := AnnounceRequest{InfoHash: ih, Port: 6881, Left: 1 << 20, NumWant: 50, Key: 42, Bid: 2_500_000, Top: 3, MinBid: 1_000_000}
	copy(r.PeerID[:], "-BT0001-000000000001")
	return r
}

func docResponse() AnnounceResponse {
	return AnnounceResponse{Interval: 1800 * time.Second, MinInterval: 900 * time.Second, Complete: 1, Incomplete: 4, HasBids: true,
		Peers: []Peer{{Addr: netip.MustParseAddrPort("127.0.0.2:6881"), Bid: 3_000_000}, {Addr: netip.MustParseAddrPort("10.0.0.7:51413"), Bid: 2_000_000}}}
}

func TestDocExamples(t *testing.T) {
	if got := string(AppendHTTPQuery(nil, docRequest())); got != docTopQuery {
		t.Errorf("query\n%s\nwant\n%s", got, docTopQuery)
	}
	b, err := EncodeHTTPAnnounce(docResponse(), HTTPOptions{Compact: true})
	if err != nil || string(b) != docTopReply {
		t.Errorf("HTTP reply\n%q\nwant\n%q", b, docTopReply)
	}
	resp := docResponse()
	resp.MinInterval = 0 // UDP has none
	if got := hex.EncodeToString(AppendUDPAnnounceReply(nil, 1, resp, false, true)); got != docUDPTopReply {
		t.Errorf("UDP reply\n%s\nwant\n%s", got, docUDPTopReply)
	}
	p := BidScrapePage{Entries: []BidScrapeEntry{{InfoHash: docRequest().InfoHash, High: 3_000_000, Count: 3}}, Next: 1}
	if got := string(EncodeBidScrape(p)); got != docBidScrape {
		t.Errorf("bid-scrape\n%q\nwant\n%q", got, docBidScrape)
	}
	// The UDP request of the same announce: its BEP 41 URL data.
	u := AppendUDPAnnounce(nil, 1, 1, "/announce", docRequest())
	t.Logf("UDP URL data: %q", u[98:])
}
