package thirdparty

import (
	"testing"

	"github.com/speedbt/btt/internal/testutil"
)

// needTool finds a third-party program or skips the test (fails it in CI).
func needTool(t testing.TB, name string) string {
	t.Helper()
	return testutil.NeedTool(t, name)
}
