package thirdparty

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
)

// Packet is one application message to put in a synthetic capture.
type Packet struct {
	// Payload is the exact bytes the sender wrote (one or more whole messages,
	// or part of one: TCP payloads form a byte stream per direction).
	Payload []byte
	// UDP sends the payload as one datagram; otherwise it goes on a TCP stream.
	UDP bool
	// SrcPort and DstPort name the stream and the direction. The side that
	// sends first on a TCP port pair is the client (127.0.0.1); the other side
	// is 127.0.0.2. tshark picks dissectors by port, so pass a decode-as option
	// for one of them to CheckPcap.
	SrcPort, DstPort uint16
}

// maxTCPSegment keeps each synthetic IPv4 packet under the 65535-byte limit;
// longer TCP payloads are split into several segments of the same stream.
const maxTCPSegment = 65535 - 20 - 20

// maxUDPPayload is the largest payload one IPv4 UDP datagram carries.
const maxUDPPayload = 65535 - 20 - 8

// ErrPayloadTooLarge is returned by WritePcap for a UDP payload that does not
// fit one IPv4 datagram.
var ErrPayloadTooLarge = errors.New("thirdparty: UDP payload larger than one IPv4 datagram")

// pcapEpoch is the timestamp of the first synthetic frame; fixed so the same
// packets always give the same file.
var pcapEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// tcpStream tracks one synthetic TCP connection, so sequence and
// acknowledgement numbers run on consistently and tshark can reassemble
// messages that span segments.
type tcpStream struct {
	clientPort uint16
	seq        [2]uint32 // next sequence number: [0] client, [1] server
}

// WritePcap writes packets to path as a classic pcap file (Ethernet, IPv4,
// loopback addresses) with synthetic TCP and UDP headers. A TCP port pair gets
// a three-way handshake before its first payload and sequence numbers that
// follow the bytes sent, so tshark decodes it like a live capture; each
// payload after that is one segment (or several, when larger than 64 KiB).
// It lets byte vectors and encoder output be fed to tshark without a capture.
func WritePcap(path string, packets []Packet) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := &pcapWriter{w: bufio.NewWriter(f), ts: pcapEpoch}
	err = w.writeAll(packets)
	if ferr := w.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("thirdparty: write pcap %s: %w", path, err)
	}
	return nil
}

type pcapWriter struct {
	w       *bufio.Writer
	ts      time.Time
	streams map[[2]uint16]*tcpStream
	ipID    uint16
	frame   []byte
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpPSH = 0x08
	tcpACK = 0x10
)

func (w *pcapWriter) writeAll(packets []Packet) error {
	// Global header: magic, version 2.4, tz 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	if _, err := w.w.Write(hdr[:]); err != nil {
		return err
	}
	w.streams = map[[2]uint16]*tcpStream{}
	for i, p := range packets {
		if p.UDP {
			if len(p.Payload) > maxUDPPayload {
				return fmt.Errorf("packet %d: %w (%d bytes)", i, ErrPayloadTooLarge, len(p.Payload))
			}
			if err := w.udp(p); err != nil {
				return err
			}
			continue
		}
		if err := w.tcp(p); err != nil {
			return err
		}
	}
	return nil
}

// addrs returns the IPs for a direction: the client is 127.0.0.1.
func addrs(fromClient bool) (src, dst [4]byte) {
	c, s := [4]byte{127, 0, 0, 1}, [4]byte{127, 0, 0, 2}
	if fromClient {
		return c, s
	}
	return s, c
}

func (w *pcapWriter) udp(p Packet) error {
	// For UDP the lower port number is the "server" only for addressing; tshark
	// does not care which side is which.
	src, dst := addrs(p.SrcPort >= p.DstPort)
	seg := make([]byte, 8+len(p.Payload))
	binary.BigEndian.PutUint16(seg[0:], p.SrcPort)
	binary.BigEndian.PutUint16(seg[2:], p.DstPort)
	binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
	copy(seg[8:], p.Payload)
	binary.BigEndian.PutUint16(seg[6:], transportChecksum(17, src, dst, seg))
	return w.ip(17, src, dst, seg)
}

func (w *pcapWriter) tcp(p Packet) error {
	key := [2]uint16{min(p.SrcPort, p.DstPort), max(p.SrcPort, p.DstPort)}
	s := w.streams[key]
	if s == nil {
		// A fixed initial sequence number per side; handshake first.
		s = &tcpStream{clientPort: p.SrcPort, seq: [2]uint32{1000, 5000}}
		w.streams[key] = s
		cp, sp := p.SrcPort, p.DstPort
		if err := w.segment(s, cp, sp, tcpSYN, nil); err != nil {
			return err
		}
		if err := w.segment(s, sp, cp, tcpSYN|tcpACK, nil); err != nil {
			return err
		}
		if err := w.segment(s, cp, sp, tcpACK, nil); err != nil {
			return err
		}
	}
	data := p.Payload
	for len(data) > 0 {
		n := min(len(data), maxTCPSegment)
		if err := w.segment(s, p.SrcPort, p.DstPort, tcpPSH|tcpACK, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// segment writes one TCP segment and advances the sender's sequence number.
func (w *pcapWriter) segment(s *tcpStream, from, to uint16, flags byte, payload []byte) error {
	fromClient := from == s.clientPort
	me, peer := 1, 0
	if fromClient {
		me, peer = 0, 1
	}
	src, dst := addrs(fromClient)
	seg := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(seg[0:], from)
	binary.BigEndian.PutUint16(seg[2:], to)
	binary.BigEndian.PutUint32(seg[4:], s.seq[me])
	if flags&tcpACK != 0 {
		binary.BigEndian.PutUint32(seg[8:], s.seq[peer])
	}
	seg[12] = 5 << 4 // data offset: 5 words, no options
	seg[13] = flags
	binary.BigEndian.PutUint16(seg[14:], 65535) // window
	copy(seg[20:], payload)
	binary.BigEndian.PutUint16(seg[16:], transportChecksum(6, src, dst, seg))
	s.seq[me] += uint32(len(payload))
	if flags&(tcpSYN|tcpFIN) != 0 {
		s.seq[me]++ // SYN and FIN take one sequence number
	}
	return w.ip(6, src, dst, seg)
}

// ip wraps a transport segment in IPv4 and Ethernet headers and writes the frame.
func (w *pcapWriter) ip(proto byte, src, dst [4]byte, seg []byte) error {
	total := 20 + len(seg)
	frame := w.frame[:0]
	// Ethernet: zero MACs, EtherType IPv4.
	frame = append(frame, make([]byte, 12)...)
	frame = append(frame, 0x08, 0x00)
	var iph [20]byte
	iph[0] = 0x45
	binary.BigEndian.PutUint16(iph[2:], uint16(total))
	w.ipID++
	binary.BigEndian.PutUint16(iph[4:], w.ipID)
	iph[6] = 0x40 // don't fragment
	iph[8] = 64   // TTL
	iph[9] = proto
	copy(iph[12:], src[:])
	copy(iph[16:], dst[:])
	binary.BigEndian.PutUint16(iph[10:], ^onesSum(0, iph[:]))
	frame = append(frame, iph[:]...)
	frame = append(frame, seg...)
	w.frame = frame

	var rec [16]byte
	binary.LittleEndian.PutUint32(rec[0:], uint32(w.ts.Unix()))
	binary.LittleEndian.PutUint32(rec[4:], uint32(w.ts.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
	w.ts = w.ts.Add(time.Millisecond)
	if _, err := w.w.Write(rec[:]); err != nil {
		return err
	}
	_, err := w.w.Write(frame)
	return err
}

// onesSum adds b to sum as 16-bit big-endian words (RFC 1071), unfolded.
func onesSum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// transportChecksum is the TCP/UDP checksum over the IPv4 pseudo-header and
// the segment (whose checksum field must be zero).
func transportChecksum(proto byte, src, dst [4]byte, seg []byte) uint16 {
	var ph [12]byte
	copy(ph[0:], src[:])
	copy(ph[4:], dst[:])
	ph[9] = proto
	binary.BigEndian.PutUint16(ph[10:], uint16(len(seg)))
	sum := uint32(onesSum(0, ph[:]))
	c := ^onesSum(sum, seg)
	if proto == 17 && c == 0 {
		c = 0xffff // UDP sends a computed zero as all ones
	}
	return c
}
