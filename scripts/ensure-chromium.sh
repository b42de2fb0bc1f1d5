#!/usr/bin/env bash
# Debian's Chromium for the web pages' browser tests (playwright-core drives it: Playwright's own browser download
# cannot be reached from here). Installed with apt-get when missing; prints its version.
set -euo pipefail
chromium="${HYGEIA_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if ! command -v apt-get > /dev/null; then
    echo "no Chromium at $chromium and no apt-get to install it: install Chromium and set HYGEIA_CHROMIUM" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian's chromium (apt-get) for the browser tests" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium > /dev/null
fi
"$chromium" --version
