#!/usr/bin/env bash
# jmeter/smoke.sh HOST PORT PROTOCOL TOKEN
#
# A short smoke run of every JMeter plan against a running gateway, through
# jmeter/run.sh (so each one must load, and every sample must pass its
# assertion):
#   1. admin-setup  creates a fresh event jm-smoke-<random> with stock 100;
#   2. claim-storm  10 threads x 20 loops = 200 claims by users u-1..u-1000,
#                   each with its own user token;
#   3. mixed        10 threads x 15 loops, about 360 samples, same event;
#   4. queue-storm  creates a second event <event>-wr with a waiting room
#                   (release_per_s 50), 10 threads x 2 users join, long-poll
#                   until admitted and claim with their access token.
# Then, from the result files: the new claims (201) over both plans must not
# exceed the stock (no oversell seen by clients); with ~180 distinct users
# claiming 100 units the event should sell out exactly, which is reported.
#
# Runtime: about 25-40 s on 2 cores, most of it four JVM starts (JMeter 2.13
# takes 3-5 s to start and load a plan before its first sample); each plan is
# also bounded by JMETER_TIMEOUT (default here 60 s), so the whole script
# stays under ~90 s even against a stuck gateway.
#
# TOKEN is the admin bearer token; it reaches JMeter through run.sh's
# mode-0600 properties file, not its command line. The claims carry user
# tokens: run.sh mints the CSV of users u-1..u-1000 with tk-token from
# USER_TOKEN_SECRET_FILE (default var/secrets/user_token_secret, the one
# `make run` writes), which must be the gateway's key. Results and logs go to
# JMETER_OUT (default var/jmeter/smoke-<event>/). Exit 0 only when all passed.
set -uo pipefail

if [ $# -ne 4 ]; then
    echo "usage: jmeter/smoke.sh HOST PORT PROTOCOL TOKEN   (e.g. localhost 8443 https \"\$(cat var/secrets/admin_token)\")" >&2
    exit 2
fi
host=$1 port=$2 protocol=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

stock=100
event=jm-smoke-$(date +%s)-$((RANDOM % 10000))
export JMETER_OUT=${JMETER_OUT:-$root/var/jmeter/smoke-$event}
export JMETER_TIMEOUT=${JMETER_TIMEOUT:-60}
common=(-Jhost="$host" -Jport="$port" -Jprotocol="$protocol" -Jevent="$event")
secret=${USER_TOKEN_SECRET_FILE:-${VAR_DIR:-$root/var}/secrets/user_token_secret}
if [ ! -r "$secret" ]; then
    echo "smoke: FAIL: cannot read the user token secret $secret (set USER_TOKEN_SECRET_FILE to the gateway's)" >&2
    exit 2
fi
start=$(date +%s)
failed=()

echo "smoke: event $event on $protocol://$host:$port, results in $JMETER_OUT"

echo "smoke: [1/4] admin-setup (stock $stock)"
if ! ADMIN_TOKEN=$4 "$here/run.sh" "$here/admin-setup.jmx" "${common[@]}" -Jstock=$stock; then
    echo "smoke: FAIL: admin-setup failed; the other plans need its event, stopping" >&2
    exit 1
fi

echo "smoke: [2/4] claim-storm (10 threads x 20 claims)"
"$here/run.sh" "$here/claim-storm.jmx" "${common[@]}" \
    -Jthreads=10 -Jrampup=1 -Jloops=20 -Jusers=1000 || failed+=(claim-storm)

echo "smoke: [3/4] mixed (10 threads x 15 iterations)"
"$here/run.sh" "$here/mixed.jmx" "${common[@]}" \
    -Jthreads=10 -Jrampup=1 -Jloops=15 -Jusers=1000 || failed+=(mixed)

echo "smoke: [4/4] queue-storm (a waiting room at 50/s: 10 threads x 2 users join, wait, claim)"
ADMIN_TOKEN=$4 "$here/run.sh" "$here/queue-storm.jmx" -Jhost="$host" -Jport="$port" -Jprotocol="$protocol" \
    -Jevent="$event-wr" -Jstock=$stock -Jrelease_per_s=50 -Jthreads=10 -Jrampup=1 -Jloops=2 -Jusers=1000 -Jmax_polls=10 ||
    failed+=(queue-storm)

# Units granted as seen by clients: 201 answers to claims, over both plans.
granted=0
for f in "$JMETER_OUT"/claim-storm-*.jtl "$JMETER_OUT"/mixed-*.jtl; do
    [ -f "$f" ] || continue
    n=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                    $col["label"] == "claim" && $col["responseCode"] == "201" { n++ }
                    END { print n + 0 }' "$f")
    granted=$((granted + n))
done
echo "smoke: new claims (201) over both plans: $granted of stock $stock"
if [ "$granted" -gt "$stock" ]; then
    echo "smoke: FAIL: clients were granted $granted units of $stock (oversell)" >&2
    failed+=(oversell)
elif [ "$granted" -lt "$stock" ]; then
    echo "smoke: note: the event did not sell out ($granted of $stock granted)" >&2
fi

echo "smoke: done in $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "smoke: FAIL: ${failed[*]}" >&2
    exit 1
fi
echo "smoke: OK"
