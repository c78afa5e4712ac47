# Sourced by test.sh and fuzz-campaign.
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" at the
# -fuzztime boundary when a worker is slow to stop (go.dev/issue/75804, fixed in Go 1.27): it
# writes no input and is not a finding. fuzzflake LOG is true for that signature alone.
fuzzflake() {
	grep -q 'context deadline exceeded' "$1" && ! grep -q -e 'Failing input written' -e 'panic:' "$1"
}
