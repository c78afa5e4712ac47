package thirdparty

import (
	"net"
	"os"
	"testing"

	"github.com/speedbt/btt/internal/testutil"
)

// needTool finds a third-party program or skips the test (fails it in CI).
func needTool(t testing.TB, name string) string {
	t.Helper()
	return testutil.NeedTool(t, name)
}

// AllowHostNetEnv, set to 1, lets the peer clients run outside a private
// network namespace.
const AllowHostNetEnv = "BTT_ALLOW_HOST_NET"

// needIsolatedNet skips the test (fails it in CI) when a network interface
// other than loopback is up: real clients are only started inside
// `unshare -n`, where nothing they do can leave the machine (transmission-cli
// was seen sending IPv6 neighbour solicitations on the real interface even
// with everything turned off).
func needIsolatedNet(t testing.TB) {
	t.Helper()
	if os.Getenv(AllowHostNetEnv) == "1" {
		return
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatalf("list network interfaces: %v", err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagLoopback == 0 {
			msg := "interface %s is up: run third-party peers inside a private network namespace, " +
				"e.g. unshare -n sh -c 'ip link set lo up && exec go test ...' (or set %s=1)"
			if testutil.InCI() {
				t.Fatalf(msg, ifc.Name, AllowHostNetEnv)
			}
			t.Skipf(msg, ifc.Name, AllowHostNetEnv)
		}
	}
}
