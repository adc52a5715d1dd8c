#!/usr/bin/env bash
# run.sh BASE_URL TOKEN: browser tests of the web pages (web/) against a
# running gateway (and its workers), e.g.
#   tests/browser/run.sh https://127.0.0.1:8443 "$ADMIN_TOKEN"
# Installs the node modules if missing (npm ci, from package-lock.json),
# drives Debian's chromium (scripts/deps.sh browser) with playwright-core
# under node's built-in test runner, saves screenshots to SCREENSHOT_DIR
# (default ROOT/var/screenshots), and ends with exactly one line
# "browser tests: N passed, N failed". Exit 0 only when all passed.
# BROWSER_TEST_TIMEOUT: seconds for the whole run (default 300).
# TK_WEB_ONLY=1: pages served without an API (layout and error display only).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: tests/browser/run.sh BASE_URL TOKEN" >&2
    exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export TK_BASE_URL=$1
export ADMIN_TOKEN=$2
export SCREENSHOT_DIR=${SCREENSHOT_DIR:-$ROOT/var/screenshots}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
TIMEOUT=${BROWSER_TEST_TIMEOUT:-300}

fail() { echo "run.sh: $*" >&2; echo "browser tests: 0 passed, 1 failed"; exit 1; }
command -v node >/dev/null || fail "node is missing (scripts/deps.sh browser)"
command -v npm >/dev/null || fail "npm is missing (scripts/deps.sh browser)"
[ -x "$CHROMIUM" ] || fail "$CHROMIUM is missing (scripts/deps.sh browser)"

cd "$HERE"
if [ ! -f node_modules/playwright-core/package.json ]; then
    echo "run.sh: installing node modules (npm ci)"
    timeout 300 npm ci --no-audit --no-fund --loglevel=error >&2 || fail "npm ci failed"
fi

tap=$(mktemp "${TMPDIR:-/tmp}/tk-browser-tap.XXXXXX")
trap 'rm -f "$tap"' EXIT
rc=0
# spec for people on stdout, TAP to a file for the count.
timeout -k 10 "$TIMEOUT" node --test --test-concurrency=1 --test-timeout=120000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    web.test.mjs || rc=$?

pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -n 1)
failn=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -n 1)
cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$tap" | tail -n 1)
pass=${pass:-0}
failn=$(( ${failn:-0} + ${cancelled:-0} ))
if [ "$rc" -ne 0 ] && [ "$failn" -eq 0 ]; then
    [ "$rc" -eq 124 ] && echo "run.sh: timed out after ${TIMEOUT}s" >&2
    echo "run.sh: node --test exited $rc before any test failed: counted as one failure" >&2
    failn=1
fi
echo "screenshots: $SCREENSHOT_DIR"
echo "browser tests: $pass passed, $failn failed"
[ "$rc" -eq 0 ] && [ "$failn" -eq 0 ]
