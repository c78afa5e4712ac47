// Package thirdparty starts real BitTorrent programs for tests: libtorrent
// (through an embedded Python driver), transmission-cli, aria2c, opentracker,
// and tshark as a protocol oracle. Conformance tests use it to put our code on
// the wire with the clients the world runs.
//
// Every helper takes a testing.TB, runs the tool in a temporary directory,
// bounds every wait with a context or a timeout, stops the process at test
// cleanup (SIGTERM, then SIGKILL), and copies the tail of the tool's log into
// the test log when the test failed. A missing tool skips the test, or fails
// it in CI (see internal/testutil).
//
// Peers are started only inside a private network namespace that has just
// loopback, so nothing can leave the machine:
//
//	go test -c -o /tmp/x.test ./conformance/
//	unshare -n sh -c 'ip link set lo up && exec /tmp/x.test -test.v'
//
// Outside one the peer helpers skip (see AllowHostNetEnv). Inside, every
// 127.0.0.0/8 address works; give each client its own (Transmission drops a
// second connection from an address it already has one from).
//
// Quick map:
//
//	lt := StartLibtorrent(t, LTConfig{Listen: "127.0.0.2:PORT", Torrent: path, SavePath: dir, Seed: true})
//	lt.WaitSeeding(ctx); lt.ConnectPeer(addr); lt.Status(); lt.WaitFinished(ctx); lt.Stop()
//	tor := LibtorrentCreateTorrent(t, path, 256<<10, v1only, trackers)   // .torrent bytes
//	tr := StartTransmission(t, TransmissionConfig{Listen: ..., Torrent: path}); tr.WaitFinished(ctx)
//	a := StartAria2(t, Aria2Config{Listen: ..., Torrent: path}); a.WaitFinished(ctx)
//	httpURL, udpURL := StartOpentracker(t, "127.0.0.1:PORT", udpPort, [][20]byte{ih})
//	c := StartCapture(t, "lo", "port P"); pcap := c.Stop()
//	CheckPcap(t, pcap, "tcp.port==P,bittorrent").Expect(t, "bittorrent")
//	WritePcap(path, []Packet{{Payload: msg, SrcPort: 40000, DstPort: 51413}})
//	LibtorrentTransfer(t, ctx, TransferConfig{Size: 256 << 20, PieceLen: 1 << 20})
//
// The quirks behind these helpers are written down in docs/interop-notes.md.
package thirdparty
