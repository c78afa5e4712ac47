#!/bin/bash
# Compares btt-ledger builds on the same load, alternating them round by round so that a
# shared machine's noise falls on all of them alike (docs/ledger.md, "Speed"). Each round
# starts each build's server on a fresh bbolt file, runs that build's `btt-ledger bench`
# against it, and prints throughput, p99 and the CPU each process spent per operation (the
# server's from /proc, the generator's from its own report): on two cores shared by both,
# the sum bounds the throughput at 2 s / (server + generator).
#
#   go build -o /tmp/old/btt-ledger ./cmd/btt-ledger   # at the reference commit
#   go build -o /tmp/new/btt-ledger ./cmd/btt-ledger
#   scripts/ledger-ab.sh ROUNDS OPS /tmp/old/btt-ledger /tmp/new/btt-ledger
#
# BENCH_ARGS adds bench flags (default: --mix transfer --concurrency 64); PROFILE=1 keeps
# each run's directory with both CPU profiles.
set -eu
rounds=${1:?usage: ledger-ab.sh ROUNDS OPS BINARY...}
ops=${2:?usage: ledger-ab.sh ROUNDS OPS BINARY...}
shift 2
tck=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
	for bin in "$@"; do
		d=$(mktemp -d)
		port=$((20000 + RANDOM % 20000))
		sprof="" bprof=""
		if [ -n "${PROFILE:-}" ]; then sprof="--cpuprofile $d/server.prof" bprof="--cpuprofile $d/bench.prof"; fi
		# shellcheck disable=SC2086
		"$bin" --listen 127.0.0.1:$port --db "$d/l.db" --treasury-key "$d/t.json" --rate-limit 0 $sprof 2>"$d/server.log" &
		pid=$!
		for _ in $(seq 200); do # bounded: 10 s
			curl -sf "http://127.0.0.1:$port/v1/info" >/dev/null && break
			sleep 0.05
		done
		# shellcheck disable=SC2086
		out=$("$bin" bench --ledger "http://127.0.0.1:$port" --treasury-key "$d/t.json" --ops "$ops" \
			${BENCH_ARGS:---mix transfer --concurrency 64} $bprof 2>&1) || echo "$out" >&2
		read -r -a st < <(sed 's/.*) //' "/proc/$pid/stat")
		server_us=$(((st[11] + st[12]) * 1000000 / tck))
		kill -INT $pid
		wait $pid || true
		n=$(echo "$out" | sed -n 's/.* ops=\([0-9]*\) .*/\1/p')
		echo "$(basename "$(dirname "$bin")")/$(basename "$bin") round $r: $(echo "$out" | sed -n 's/throughput: //p')," \
			"p99 $(echo "$out" | sed -n 's/.*p99=\([^ ]*\).*/\1/p'), server $((server_us / n)) us/op," \
			"generator $(echo "$out" | sed -n 's/.*(\(.*\) us\/op)/\1/p') us/op${PROFILE:+ ($d)}"
		[ -n "${PROFILE:-}" ] || rm -rf "$d"
	done
done
