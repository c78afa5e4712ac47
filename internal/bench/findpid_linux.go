package bench

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FindListener returns the pid of the local process listening on addr's TCP port (or,
// failing that, bound to its UDP port, for a uTP-only seeder), by matching the socket's
// inode in /proc/net against the file descriptors of each process we may read. It returns
// 0 and an error when the address is not local or no process we can see holds it.
func FindListener(addr string) (int, error) {
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return 0, fmt.Errorf("port %q: %w", portS, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return 0, fmt.Errorf("%s is not a loopback address", host)
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listenInodes(f, ip, port, "0A", inodes) // 0A: TCP_LISTEN
	}
	if len(inodes) == 0 {
		for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
			listenInodes(f, ip, port, "07", inodes) // 07: unconnected UDP
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket bound to port %d", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, err := os.ReadDir(filepath.Join(p, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return strconv.Atoi(filepath.Base(p))
			}
		}
	}
	return 0, fmt.Errorf("no process we can read holds port %d", port)
}

// listenInodes adds the inodes of the sockets in a /proc/net table bound to port in state,
// on ip or on every address. (Several 127.0.0.x seeders may share a port.)
func listenInodes(path string, ip net.IP, port int, state string, into map[string]bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want := fmt.Sprintf(":%04X", port)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(fs) < 10 || !strings.HasSuffix(fs[1], want) || fs[3] != state || !boundTo(fs[1], ip) {
			continue
		}
		into[fs[9]] = true
	}
}

// boundTo reports whether a /proc/net local address ("0100007F:1B58": the IPv4 address as
// a little-endian hex word) is ip or the wildcard. IPv6 entries are not decoded; they
// match any ip.
func boundTo(local string, ip net.IP) bool {
	hexIP, _, _ := strings.Cut(local, ":")
	ip4 := ip.To4()
	if len(hexIP) != 8 || ip4 == nil {
		return true
	}
	v, err := strconv.ParseUint(hexIP, 16, 32)
	if err != nil {
		return false
	}
	got := net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	return got.Equal(ip4) || got.Equal(net.IPv4zero)
}
