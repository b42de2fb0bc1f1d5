#!/usr/bin/env bash
# Runs a command with a real IPFS RPC server for the Kubo adapter tests:
#   bash packages/storage/scripts/with-js-ipfs.sh npx mocha --timeout 60000 --exit 'packages/storage/test/kubo-*.test.ts'
# Kubo itself cannot be downloaded here, but the js-ipfs 0.66 daemon (npm `ipfs`) serves the same RPC API; it is
# installed outside the workspace by install-js-ipfs.sh (HYGEIA_JS_IPFS_HOME, default ~/.cache/hygeia-js-ipfs), so
# `npm install` users never get it. The daemon runs on loopback ports with a throwaway repo (no bootstrap, mDNS,
# delegates or preload nodes) and is stopped when the command ends. The command sees HYGEIA_KUBO_RPC_URL.
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

jsipfs="$(bash "$(dirname "${BASH_SOURCE[0]}")/install-js-ipfs.sh")"

# Four distinct free loopback ports, held open together so the OS cannot hand out one twice. Another process can
# still take one before the daemon binds it, so a start that fails (EADDRINUSE) is retried with new ports.
free_ports() {
  node -e 'const net=require("net");const ss=[0,1,2,3].map(()=>net.createServer());
    Promise.all(ss.map(s=>new Promise(r=>s.listen(0,"127.0.0.1",r)))).then(()=>{
      console.log(ss.map(s=>s.address().port).join(" "));ss.forEach(s=>s.close())})'
}
repo="$(mktemp -d)"
log="$repo.log"
export IPFS_PATH="$repo"
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$repo" "$log"
}
trap cleanup EXIT
"$jsipfs" init --profile test >/dev/null
"$jsipfs" config --json Bootstrap '[]'
"$jsipfs" config --json Discovery.MDNS.Enabled false

start_daemon() {
  read -r api_port gateway_port swarm_port grpc_port < <(free_ports)
  "$jsipfs" config Addresses.API "/ip4/127.0.0.1/tcp/$api_port"
  "$jsipfs" config Addresses.Gateway "/ip4/127.0.0.1/tcp/$gateway_port"
  "$jsipfs" config Addresses.RPC "/ip4/127.0.0.1/tcp/$grpc_port"
  "$jsipfs" config --json Addresses.Swarm "[\"/ip4/127.0.0.1/tcp/$swarm_port\"]"
  "$jsipfs" daemon --enable-preload=false >"$log" 2>&1 &
  daemon=$!
  for _ in $(seq 1 120); do
    grep -q "Daemon is ready" "$log" 2>/dev/null && return 0
    # A port taken between choosing it and binding it: js-ipfs logs EADDRINUSE and may keep running without serving.
    grep -q "EADDRINUSE" "$log" 2>/dev/null && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.5
  done
  kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; daemon=""
  rm -f "$repo/repo.lock" "$repo/api"
  return 1
}

started=""
for attempt in 1 2 3; do
  if start_daemon; then started=1; break; fi
  echo "with-js-ipfs: daemon start $attempt failed:" >&2; cat "$log" >&2
done
[ -n "$started" ] || { echo "with-js-ipfs: daemon not ready after 3 attempts" >&2; exit 1; }

export HYGEIA_KUBO_RPC_URL="http://127.0.0.1:$api_port"
echo "with-js-ipfs: RPC API at $HYGEIA_KUBO_RPC_URL" >&2
"$@"
