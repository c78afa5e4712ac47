#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with Go, then runs every test:
# vet, unit tests (with -race), the conformance suite against real clients inside a private
# network namespace that has only loopback, and each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(python3-libtorrent transmission-cli aria2 opentracker mktorrent tshark iproute2 util-linux procps)
# protocol (issue 15): nginx serves the files of the BEP 19 web seed tests (conformance.TestWebSeedNginx).
pkgs+=(nginx-light)
# --- ledger on PostgreSQL (channel/ledger, channel/ledger/pgstore) ---
# The tests start a private server per test (internal/testutil.StartPostgres: initdb and
# postgres from /usr/lib/postgresql/*/bin, as the package's "postgres" user when run as
# root, on 127.0.0.1 inside the test's network namespace); psql for their SQL; prlimit
# (util-linux) for the disk-full test.
pkgs+=(postgresql postgresql-client)
# --- end ledger on PostgreSQL ---
# btt daemon (issue 14): Transmission's web client (transmission-daemon ships it in
# /usr/share/transmission/web; it is never copied into the repo), headless Chromium to load it,
# and promtool (prometheus) to check /metrics.
pkgs+=(transmission-daemon chromium prometheus)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# btt daemon: transmission-daemon's package starts its own daemon (DHT on) where an init system
# runs; the tests use only its web client's files.
service transmission-daemon stop >/dev/null 2>&1 || true

# --- TRON bridge (channel/tron): tronweb, pinned by scripts/tronweb/package*.json, installed
# outside the repository for the byte-for-byte tests, which run it offline under node.
export BTT_TRONWEB_DIR="${BTT_TRONWEB_DIR:-${HOME:-/root}/.cache/btt-tronweb}"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "== installing: nodejs npm"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq nodejs npm >/dev/null
fi
if ! cmp -s scripts/tronweb/package-lock.json "$BTT_TRONWEB_DIR/package-lock.json" ||
	[ ! -f "$BTT_TRONWEB_DIR/node_modules/tronweb/package.json" ]; then
	echo "== installing tronweb into $BTT_TRONWEB_DIR"
	mkdir -p "$BTT_TRONWEB_DIR"
	cp scripts/tronweb/package.json scripts/tronweb/package-lock.json "$BTT_TRONWEB_DIR/"
	(cd "$BTT_TRONWEB_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
# --- end TRON bridge

echo "== go modules and build"
go mod download
go build ./...
go vet ./...
test -z "$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
# Warm the race build cache outside the namespace, which has no route to the module proxy.
go test -race -count=1 -run '^$' ./... >/dev/null
go test -count=1 -run '^$' ./conformance/ ./internal/thirdparty/ >/dev/null

echo "== unit and package tests (race detector on), inside a network namespace with only loopback"
# Everything that opens a socket runs in a namespace, so no test can reach beyond this machine.
export GOFLAGS="${GOFLAGS:-} -mod=mod" GOPROXY=off
# Tests that drive third-party processes (conformance, and the harness's own self-tests) run
# alone below: under -race, beside other packages, libtorrent was seen to die at start-up.
pkgs=$(go list ./... | grep -v -e '/conformance$' -e '/internal/thirdparty$')
unshare -n sh -c "ip link set lo up && exec go test -race -count=1 -timeout 20m $(echo $pkgs)"

echo "== conformance against real clients and the harness's self-tests, alone (timing-sensitive: LEDBAT, throughput)"
# No race detector here: these tests drive third-party processes and measure a congestion
# controller, which a 5-10x slowdown of our side would distort. Our concurrent code runs
# under -race above, including the same session paths.
unshare -n sh -c 'ip link set lo up && exec go test -count=1 -p 1 -timeout 30m ./internal/thirdparty/ ./conformance/'

echo "== the DHT simulation at full size (5,000 nodes; the race pass runs 1,000)"
go test -count=1 -run 'TestFiveThousandNodes' ./dht/sim/

echo "== fuzz targets, briefly each"
fuzzlog=$(mktemp)
# A bare fuzz-deadline race (see fuzzflake.sh) runs once more; anything else fails at once.
. scripts/fuzzflake.sh
# ./fuzz holds the targets on exported decoders; a few on unexported ones live in their own
# packages (found by grep, so a new one is never left out).
fuzzpkgs=$(grep -rl '^func Fuzz' --include='*_test.go' . | xargs -n1 dirname | sort -u)
for pkg in $fuzzpkgs; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		for try in 1 2; do
			if go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-4s}" >"$fuzzlog" 2>&1; then
				break
			fi
			if [ "$try" = 1 ] && fuzzflake "$fuzzlog"; then
				echo "note fuzz $target: Go's fuzz-deadline race (go.dev/issue/75804), no input written; again"
				continue
			fi
			echo "fuzz target $target failed:"; tail -60 "$fuzzlog"
			echo "new corpus entries (the failing input is among them):"; git status --short "$pkg/testdata"
			exit 1
		done
		echo "ok   fuzz $pkg $target"
	done
done
rm -f "$fuzzlog"
echo "== all tests passed"
