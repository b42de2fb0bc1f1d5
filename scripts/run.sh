#!/usr/bin/env bash
# Entry point behind `npm start`, `npm test` and `npm run setup`: makes sure Node 24
# and the dependencies are installed, then runs the named task under Node 24.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

node_dir="$(bash scripts/node24.sh)"
export PATH="$root/node_modules/.bin:$node_dir:$PATH"

# Install when node_modules is missing or older than the lockfile.
stamp=node_modules/.hygeia-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "setup: installing dependencies with Node $(node -v)" >&2
  # `npm install`, not `npm ci`: npm 11 writes lockfiles without the other platforms' optional
  # binaries (anvil, EDR) and then `npm ci` refuses them as out of sync. The lockfile still pins
  # every version that is installed.
  if ! npm install --no-audit --no-fund >&2; then
    # npm's own error is above (often a registry hiccup such as ECONNRESET); a rerun keeps what was installed.
    echo "setup: npm install failed (see above); run the same command again — it resumes" >&2
    exit 1
  fi
  touch "$stamp"
fi

task="${1:-}"; shift || true
case "$task" in
  setup) echo "setup: done (Node $(node -v))" ;;
  start)
    # The web pages the gateway serves at /: built when missing or older than any package's source.
    web_index=packages/web/dist/index.html
    if [ ! -f "$web_index" ] || [ -n "$(find packages/*/src packages/web/index.html -newer "$web_index" -print -quit)" ]; then
      echo "start: building the web pages (packages/web)" >&2
      node packages/web/scripts/build.ts > /dev/null
    fi
    exec node scripts/start.ts "$@" ;;
  test)  exec bash scripts/test.sh "$@" ;;
  bench-gas) hardhat build --quiet && exec node scripts/bench-gas.ts "$@" ;;
  bench-ingest) exec node packages/storage/bench/ingest.ts "$@" ;;
  bench-verify) exec node packages/identity/bench/verify.ts "$@" ;;
  bench-gateway) exec node packages/gateway/bench/gateway.ts "$@" ;;
  bench-dataset) exec node packages/gateway/bench/dataset.ts "$@" ;;
  bench-scale) exec node packages/gateway/bench/scale.ts "$@" ;;
  deploy) hardhat build --quiet && exec node scripts/deploy.ts "$@" ;;
  demo)  exec node packages/cli/demo/demo.ts "$@" ;;
  fund)  exec node scripts/fund.ts "$@" ;;
  *)     echo "usage: scripts/run.sh setup|start|test|bench-gas|bench-ingest|bench-verify|bench-gateway|bench-dataset|bench-scale|deploy|demo|fund" >&2; exit 2 ;;
esac
