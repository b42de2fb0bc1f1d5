#!/usr/bin/env bash
# Prints the directory of a Node.js >= 22.13 binary, installing Node 24 from the
# npm registry (package `node@24`) into .tools/ when the host's Node is older.
# Why: hosts here ship Node 20, but Hardhat's native EDR and node:sqlite need >= 22.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

node_ok() { # $1 = node binary; true when its version is >= 22.13
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=13)?0:1)' 2>/dev/null
}

for candidate in "$root/node_modules/.bin/node" "$root/.tools/node_modules/.bin/node" "$(command -v node || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && node_ok "$candidate"; then
    dirname "$(readlink -f "$candidate")"
    exit 0
  fi
done

command -v npm >/dev/null || { echo "node24: npm is required to install Node 24" >&2; exit 1; }
echo "node24: host Node is older than 22.13; installing node@24 into .tools/ (one time)" >&2
mkdir -p "$root/.tools"
[ -f "$root/.tools/package.json" ] || echo '{"private":true}' > "$root/.tools/package.json"
npm install --prefix "$root/.tools" --no-save --no-audit --no-fund --loglevel=error node@24 >&2
node_ok "$root/.tools/node_modules/.bin/node" || { echo "node24: installed Node does not run" >&2; exit 1; }
dirname "$(readlink -f "$root/.tools/node_modules/.bin/node")"
