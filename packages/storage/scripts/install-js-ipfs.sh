#!/usr/bin/env bash
# Installs the js-ipfs 0.66 daemon (npm `ipfs`) when it is missing and prints the path of its `jsipfs` binary on
# stdout (progress goes to stderr). Used by with-js-ipfs.sh and the scale tests' IPFS helper (test/scale/support).
# Kubo itself cannot be downloaded here, but js-ipfs 0.66 serves the same RPC API once npm overrides pin
# @libp2p/tcp 6.1.2, @libp2p/websockets 5.0.3 and @multiformats/mafmt@^11 11.1.0. It is installed outside the
# workspace (HYGEIA_JS_IPFS_HOME, default ~/.cache/hygeia-js-ipfs), so `npm install` users never get it.
set -euo pipefail

home="${HYGEIA_JS_IPFS_HOME:-$HOME/.cache/hygeia-js-ipfs}"
jsipfs="$home/node_modules/.bin/jsipfs"
if [ ! -x "$jsipfs" ]; then
  mkdir -p "$home"
  cat > "$home/package.json" <<'JSON'
{
  "name": "hygeia-js-ipfs-test-server",
  "private": true,
  "dependencies": { "ipfs": "0.66.1" },
  "overrides": {
    "@libp2p/tcp": "6.1.2",
    "@libp2p/websockets": "5.0.3",
    "@multiformats/mafmt@^11": "11.1.0"
  }
}
JSON
  echo "install-js-ipfs: installing the js-ipfs 0.66 daemon into $home" >&2
  (cd "$home" && npm install --no-audit --no-fund --omit=peer >&2)
fi
echo "$jsipfs"
