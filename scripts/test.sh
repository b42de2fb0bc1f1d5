#!/usr/bin/env bash
# The whole test suite, run by `npm test` (through scripts/run.sh, which provides Node 24 and
# the dependencies). Ends with one line "tests: N passed, M failed" counting every mocha test.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$root/node_modules/.bin:$PATH"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
passed=0; failed=0; status=0

step() { echo; echo "== $*"; }

# Runs a mocha-based suite, keeps its exit status and adds its counts to the totals.
suite() {
  local name="$1"; shift
  step "$name"
  "$@" 2>&1 | tee "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  local p f
  p=$(grep -Eo '^ *[0-9]+ passing' "$logs/$name.log" | grep -Eo '[0-9]+' | tail -1)
  f=$(grep -Eo '^ *[0-9]+ failing' "$logs/$name.log" | grep -Eo '[0-9]+' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ]; then
    status=1
    [ -z "$f" ] && failed=$((failed + 1)) # a suite that crashed before reporting counts as a failure
  fi
}

check() {
  local name="$1"; shift
  step "$name"
  if ! "$@"; then status=1; failed=$((failed + 1)); echo "FAILED: $name"; fi
}

check "typecheck" tsc -p tsconfig.json
check "typecheck (web pages: DOM, JSX)" tsc -p packages/web/tsconfig.json
check "lint" eslint --max-warnings 0 .
check "format" prettier --check --log-level warn .
suite "contracts (with coverage)" hardhat test mocha --coverage
check "contract line coverage >= 95%" node scripts/check-coverage.ts 95
# A coverage run leaves instrumented bytecode in artifacts/: build again so what follows
# (the check that packages/chain ships the compiled bytecode) sees the real contracts.
check "compile contracts" hardhat build --quiet
# The web pages: built (and their initial JavaScript held to its budget) before the browser tests load them, in
# Debian's Chromium.
check "web pages build" node packages/web/scripts/build.ts
check "chromium for the browser tests" bash scripts/ensure-chromium.sh
suite "packages and end-to-end" mocha --timeout 120000 --exit 'packages/*/test/**/*.test.ts' 'test/e2e/**/*.test.ts' 'test/docs/**/*.test.ts'
# The Kubo RPC adapter against a real RPC server: the js-ipfs 0.66 daemon, installed outside the
# workspace (so `npm start` users never get it) and started on loopback for this run only.
suite "storage: Kubo RPC adapter against a js-ipfs daemon" \
  bash packages/storage/scripts/with-js-ipfs.sh mocha --timeout 120000 --exit 'packages/storage/test/kubo-*.test.ts'
# Scale-out: 3 gateway processes on one PostgreSQL database and one js-ipfs daemon, behind a round-robin load
# balancer. The harness (test/scale/support) starts its own PostgreSQL and IPFS, so no wrapper.
suite "scale: 3 gateways on PostgreSQL" mocha --timeout 300000 --exit 'test/scale/**/*.test.ts'

echo
echo "tests: $passed passed, $failed failed"
exit "$status"
