#!/usr/bin/env bash
# chaos.sh [BUILD_DIR]: the chaos scenarios of tests/integration/it_chaos.c
# (worker killed mid-batch, MariaDB outage, Redis SIGKILL + AOF restart,
# gateway restart with requests in flight, Redis stopped for seconds while
# the lock-table fallback grants and then merged back, the gateway killed
# with SIGKILL while the fallback grants and Redis restarted from its AOF
# under a new gateway, a Redis Cluster master killed with SIGKILL under a
# storm over two gateways and its replica promoted, once with
# REDIS_WAIT_REPLICAS=1 and once without) at a larger scale than inside
# `make test`: CHAOS_SCALE (default 10) times stock 300, 3,000 users.
#
# It is tests/integration/run.sh for it_chaos alone (IT_ONLY): Redis and
# MariaDB on free loopback ports in a temporary directory, always stopped
# again; the directory is kept when a scenario fails. Each scenario prints
# its verdict line ("chaos worker-kill: PASS granted=…"). Environment:
# CHAOS_SCALE (1..100, default 10), CHAOS_TIMEOUT (seconds for the binary,
# default 1800), KEEP_IT_DIR=1, CHAOS_ONLY (one scenario, e.g. redis_stop,
# gateway_kill_fallback or cluster_failover),
# CHAOS_REDIS_BALLAST (filler keys for redis_stop, so Redis comes back
# slowly, answering LOADING; default 1,000,000 above scale 1, see tests/integration/chaos/chaos_fallback.c).
set -euo pipefail

TK_PROG=chaos
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BUILD_DIR=$(tk_abspath "${1:-$ROOT/build/san}")
BIN=$BUILD_DIR/tests/it_chaos
[ -x "$BIN" ] || tk_die "$BIN not found (make MODE=san test-build)"
CHAOS_SCALE=${CHAOS_SCALE:-10}
CHAOS_TIMEOUT=${CHAOS_TIMEOUT:-1800}
[[ "$CHAOS_SCALE" =~ ^[0-9]+$ ]] && [ "$CHAOS_SCALE" -ge 1 ] && [ "$CHAOS_SCALE" -le 100 ] ||
    tk_die "CHAOS_SCALE=$CHAOS_SCALE: expected 1..100"
[[ "$CHAOS_TIMEOUT" =~ ^[0-9]+$ ]] || tk_die "CHAOS_TIMEOUT=$CHAOS_TIMEOUT: expected seconds"

# As scripts/test.sh: leaks are failures, UBSan stops at the first report,
# h2o's own per-thread caches are suppressed (tests/lsan.supp).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}
export CHAOS_SCALE REDIS_APPENDFSYNC=always IT_ONLY=it_chaos IT_TIMEOUT=$CHAOS_TIMEOUT

tk_say "scale $CHAOS_SCALE"
exec "$ROOT/tests/integration/run.sh" "$BUILD_DIR"
