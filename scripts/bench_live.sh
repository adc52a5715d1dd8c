# bench_live.sh: the benchmark's live phase (issue 13 item 7), sourced by
# scripts/bench.sh (phase 7/7, or alone with BENCH_PHASES=live). Never run
# by itself: it uses bench.sh's temporary world (Redis, MariaDB, the main
# gateway for admin calls) and helpers (rcli, admin, phase_begin/_end,
# calc, jget, nn, tk_*).
#
# It starts a gateway of its own on the same Redis for each measurement
# (USER_AUTH=off, CONN_PER_IP=0 for thousands of HTTP/1.1 connections from
# 127.0.0.1, WATCH_HELD_MAX above the held counts, RATE_IP_PER_S=0), so
# that its memory is measured from a fresh process, and drives it with
# build/release/bench/tk-watchbench:
#   live_h2_hold   LIVE_H2_HELD (20,000) watches held over HTTP/2 TLS on
#                  LIVE_H2_CONNS (250) connections; the gateway's RSS before
#                  and with them held, / held = memory per held request
#   live_h1_hold   LIVE_H1_HELD (5,000) over HTTP/1.1 TLS, one connection each
#   live_beat      watch?wait=0, a new user per request, HTTP/2 16 x 32 for
#                  BENCH_SECONDS: heartbeats/s as the driver sees them, and
#                  the gateway's tk_presence_heartbeats_total delta when its
#                  /metrics has it
#   live_fanout    LIVE_FANOUT_WATCHERS (10,000) held over HTTP/2 (100 x 100),
#                  LIVE_FANOUT_ROUNDS (20) rounds of one claim, the time from
#                  the claim to the last watcher answered: p50/p99 over rounds
#   wr_storm       WR_STORM_USERS (50,000) users join one waiting room as
#                  fast as 200 x 100 streams go: seconds, joins/s, places
#                  1..N each once and in causal order
#   wr_admit       a room with release_per_s WR_RELEASE (5,000): WR_ADMIT_USERS
#                  (50,000) users join and hold their status long-poll
#                  (20,000 at a time) until admitted; achieved rate (10th to
#                  90th percentile of admission times) / configured
# The waiting-room loads run only when this build has the room (the admin
# create takes "waiting_room" and the join route answers); otherwise their
# figures are null with the reason.
# shellcheck shell=bash

LIVE_H2_HELD=${LIVE_H2_HELD:-20000}
LIVE_H2_CONNS=${LIVE_H2_CONNS:-250}
LIVE_H1_HELD=${LIVE_H1_HELD:-5000}
LIVE_FANOUT_WATCHERS=${LIVE_FANOUT_WATCHERS:-10000}
LIVE_FANOUT_ROUNDS=${LIVE_FANOUT_ROUNDS:-20}
WR_RELEASE=${WR_RELEASE:-5000}
WR_ADMIT_USERS=${WR_ADMIT_USERS:-50000}
WR_STORM_USERS=${WR_STORM_USERS:-50000}
WATCHBENCH=${WATCHBENCH:-$ROOT/build/release/bench/tk-watchbench}
live_pid=""
live_wr_reason=""

for v in LIVE_H2_HELD LIVE_H1_HELD LIVE_FANOUT_WATCHERS WR_ADMIT_USERS WR_STORM_USERS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -ge 100 ] && [ "${!v}" -le 1000000 ] || tk_die "$v=${!v}: expected 100..1000000"
done
[[ "$LIVE_H2_CONNS" =~ ^[0-9]+$ ]] && [ "$LIVE_H2_CONNS" -ge 1 ] && [ "$LIVE_H2_CONNS" -le 5000 ] || tk_die "LIVE_H2_CONNS: expected 1..5000"
[[ "$LIVE_FANOUT_ROUNDS" =~ ^[0-9]+$ ]] && [ "$LIVE_FANOUT_ROUNDS" -ge 1 ] && [ "$LIVE_FANOUT_ROUNDS" -le 200 ] || tk_die "LIVE_FANOUT_ROUNDS: expected 1..200"
[[ "$WR_RELEASE" =~ ^[0-9]+$ ]] && [ "$WR_RELEASE" -ge 1 ] && [ "$WR_RELEASE" -le 100000 ] || tk_die "WR_RELEASE: expected 1..100000"
[ -x "$WATCHBENCH" ] || tk_die "$WATCHBENCH not found: make MODE=release build/release/bench/tk-watchbench (make bench builds it)"

# Thousands of connections: the driver and the gateway each need a
# descriptor per HTTP/1.1 connection (and a few hundred for HTTP/2).
live_fds=$((LIVE_H1_HELD + 2000))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$live_fds" ]; then
    ulimit -n "$live_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$live_fds" ] ||
        tk_warn "live: ulimit -n is $(ulimit -n), below the $live_fds the HTTP/1.1 hold needs; it will hold fewer"
fi

LIVE_PORT=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT" "$PORT" "$HTTP_PORT" "$PORT2" "$HTTP_PORT2") || tk_die "no free port"
LIVE_HTTP=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT" "$PORT" "$HTTP_PORT" "$PORT2" "$HTTP_PORT2" "$LIVE_PORT") || tk_die "no free port"

live_held_max=$((LIVE_H2_HELD > LIVE_FANOUT_WATCHERS ? LIVE_H2_HELD : LIVE_FANOUT_WATCHERS))
live_held_max=$((live_held_max + LIVE_H1_HELD + 1000))
# the waiting-room loads hold at most 200 x 100 status polls at once
live_wq_held_max=$((live_held_max > 21000 ? live_held_max : 21000))

live_start_gateway() {
    USER_AUTH=off ADMIN_ON_HTTP=1 RATE_IP_PER_S=0 CONN_PER_IP=0 WATCH_HELD_MAX=$live_held_max WQ_HELD_MAX=$live_wq_held_max \
        setsid "$GATEWAY" --port "$LIVE_PORT" --http-port "$LIVE_HTTP" --threads "$GW_THREADS" \
        --var-dir "$DIR" --web-root "$ROOT/web" --redis-user tk-gateway --redis-password-file "$DIR/secrets/redis_gateway" \
        </dev/null >>"$DIR/gateway-live.log" 2>&1 &
    live_pid=$!
    gateway_up "$live_pid" "$LIVE_HTTP" "$DIR/gateway-live.log"
}
live_stop_gateway() {
    [ -z "$live_pid" ] || tk_stop_pid tk-gateway "$live_pid" 15 >/dev/null || tk_warn "live: the gateway did not stop cleanly"
    live_pid=""
}
live_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$live_pid/status" 2>/dev/null || echo null; }
live_metric() { # NAME: an unlabelled series of the live gateway's /metrics (summed over labels); empty when absent
    curl -sf --max-time 5 "http://127.0.0.1:$LIVE_HTTP/metrics" 2>/dev/null |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF; f = 1 } END { if (f) printf "%.0f\n", s }'
}

# live_hold NAME PROTO CONNS STREAMS N: N watches held on a fresh gateway;
# $RES/NAME.json gets the driver's figures plus the RSS and metric.
live_hold() {
    local name=$1 proto=$2 conns=$3 streams=$4 n=$5 rss0 rss1 metric ready=$DIR/$1.ready dpid i rc=0
    live_start_gateway
    sleep 0.5
    rss0=$(live_rss_kb)
    rm -f "$ready"
    timeout 150 "$WATCHBENCH" -p "$LIVE_PORT" -M hold -P "$proto" -c "$conns" -m "$streams" -n "$n" -e live-w -u "h$proto" \
        -d 120 -S 1500 -r "$ready" >"$RES/$name.drv.json" 2>"$RES/$name.err" &
    dpid=$!
    for ((i = 0; i < 1200; i++)); do
        [ -s "$ready" ] && break
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.1
    done
    rss1=$(live_rss_kb)
    metric=$(live_metric tk_watch_held)
    kill -TERM "$dpid" 2>/dev/null
    wait "$dpid" || rc=$?
    if ! [ -s "$ready" ] || ! [ -s "$RES/$name.drv.json" ]; then
        tk_warn "live: $name: the driver did not report its watches held (status $rc): $(head -c 300 "$RES/$name.err")"
        live_stop_gateway
        return 1
    fi
    local held
    held=$(jget "$ready" held)
    printf '{"held":%s,"watch_held_metric":%s,"rss_before_kb":%s,"rss_held_kb":%s,"bytes_per_held":%s,"connect_s":%s,"seconds_to_ready":%s,"conns":%s,"s503":%s,"errors":%s,"answered_while_held":%s}\n' \
        "$held" "$(nn "$metric")" "$rss0" "$rss1" "$(calc "int(($rss1 - $rss0) * 1024 / $held)")" "$(jget "$RES/$name.drv.json" connect_s)" "$(jget "$ready" seconds_to_ready)" \
        "$(jget "$RES/$name.drv.json" conns)" "$(jget "$RES/$name.drv.json" s503)" "$(jget "$RES/$name.drv.json" errors)" \
        "$(jget "$ready" answered)" >"$RES/$name.json"
    say_load "$name" "$RES/$name.json"
    live_stop_gateway
}

# The room's own count of admissions (tk:{E}:wq admitted, written by the
# admitter wherever it runs: the lease may be the main gateway's) every
# 100 ms, "ms admitted" lines, until killed or SECONDS pass.
live_sample_admitted() { # EVENT FILE SECONDS (run with &: a subshell)
    # bench.sh's traps must not run here: its EXIT trap would stop the
    # whole world when this sampler is killed
    trap - EXIT INT TERM HUP
    local end=$(($(ms_now) + $3 * 1000))
    while [ "$(ms_now)" -lt "$end" ]; do
        echo "$(ms_now) $(rcli hget "tk:{$1}:wq" admitted 2>/dev/null)"
        sleep 0.1
    done >"$2"
}
# The admission rate from those samples: from the first at or above 10 % of
# USERS to the first at or above 90 % (the steady middle: no ramp-up, no
# tail), admissions / seconds between them; null when not reached.
live_admit_rate() { # FILE USERS
    awk -v n="$2" '$2 != "" { if (!a && $2 >= 0.1 * n) { a = 1; t1 = $1; x1 = $2 } if (!b && $2 >= 0.9 * n) { b = 1; t2 = $1; x2 = $2 } }
        END { if (a && b && t2 > t1) printf "%.1f\n", (x2 - x1) * 1000 / (t2 - t1); else print "null" }' "$1"
}

# Does this build have the waiting room? The admin create must take the
# settings (SETTINGS) and the join route must place a user (QUEUE).
live_wr_create() { # ID RELEASE
    local body
    body="{\"event_id\":\"$1\",\"name\":\"bench $1\",\"stock\":100000000,\"max_per_user\":1,\"waiting_room\":{\"enabled\":true,\"release_per_s\":$2,\"access_ttl_s\":300}}"
    admin POST /v1/admin/events "$body" >/dev/null 2>&1 || return 1
    [ "$(rcli hget "tk:{$1}:ev" wr)" = 1 ]
}
live_wr_available() {
    local code
    if ! live_wr_create wr-probe 1; then
        live_wr_reason="this build's admin create does not take \"waiting_room\" (or tk:{E}:ev has no wr field): the room's settings have not landed"
        return 1
    fi
    code=$(curl -s -o "$DIR/wr-probe.out" -w '%{http_code}' --max-time 5 -X POST -H 'Content-Type: application/json' \
        -d '{"user_id":"probe-1"}' "http://127.0.0.1:$LIVE_HTTP/v1/events/wr-probe/queue" 2>/dev/null || true)
    if [ "$code" != 201 ] && [ "$code" != 200 ]; then
        live_wr_reason="POST /v1/events/{id}/queue answered $code, not 201: the join route has not landed ($(head -c 120 "$DIR/wr-probe.out" 2>/dev/null))"
        return 1
    fi
    return 0
}

live_phase() {
    tk_say "7/7 live: held watches (HTTP/2 $LIVE_H2_HELD, HTTP/1.1 $LIVE_H1_HELD), heartbeats, fan-out to $LIVE_FANOUT_WATCHERS, waiting room"
    create_event live-w 100000000
    local main_pid=$gw_pid main_http=$gw_http s=$(( (LIVE_H2_HELD + LIVE_H2_CONNS - 1) / LIVE_H2_CONNS ))
    [ "$s" -le 100 ] || tk_warn "live: $s streams per HTTP/2 connection, above h2o's 100 concurrent streams: raise LIVE_H2_CONNS"
    live_hold live_h2_hold h2 "$LIVE_H2_CONNS" "$s" "$LIVE_H2_HELD" || true
    live_hold live_h1_hold h1 "$LIVE_H1_HELD" 1 "$LIVE_H1_HELD" || true

    # Heartbeats and the fan-out on one gateway, measured like the other
    # phases (its CPU as "gw", its answers by status).
    live_start_gateway
    gw_pid=$live_pid gw_http=$LIVE_HTTP
    local h0 h1 rc=0
    h0=$(live_metric tk_presence_heartbeats_total)
    phase_begin
    timeout $((SECS + 30)) "$WATCHBENCH" -p "$LIVE_PORT" -M beat -P h2 -c 16 -m 32 -n 1 -e live-w -u b -d "$SECS" \
        >"$RES/live_beat.drv.json" 2>"$RES/live_beat.err" || rc=$?
    phase_end live_beat
    h1=$(live_metric tk_presence_heartbeats_total)
    if [ "$rc" = 0 ] && [ -s "$RES/live_beat.drv.json" ]; then
        local hb=null
        [ -z "$h0" ] || [ -z "$h1" ] || hb=$(calc "int(($h1 - $h0) / $(jget "$RES/live_beat.drv.json" seconds))")
        sed "s/}\$/,\"heartbeats_metric_per_s\":$hb}/" "$RES/live_beat.drv.json" >"$RES/live_beat.json"
        say_load live_beat "$RES/live_beat.json"
    else
        tk_warn "live: the heartbeat load failed (status $rc): $(head -c 300 "$RES/live_beat.err")"
    fi

    rc=0
    phase_begin
    timeout 600 "$WATCHBENCH" -p "$LIVE_PORT" -M fanout -P h2 -c 100 -m 100 -n "$LIVE_FANOUT_WATCHERS" -R "$LIVE_FANOUT_ROUNDS" \
        -S 1000 -e live-w -u f -d 500 >"$RES/live_fanout.json" 2>"$RES/live_fanout.err" || rc=$?
    phase_end live_fanout
    if [ "$rc" = 0 ] && [ -s "$RES/live_fanout.json" ]; then
        say_load live_fanout "$RES/live_fanout.json"
    else
        tk_warn "live: the fan-out load failed (status $rc): $(head -c 300 "$RES/live_fanout.err")"
        rm -f "$RES/live_fanout.json"
    fi

    # The waiting room.
    if live_wr_available; then
        live_wr_create wr-storm 1 || tk_warn "live: could not create event wr-storm"
        rc=0
        phase_begin
        timeout 200 "$WATCHBENCH" -p "$LIVE_PORT" -M queue -P h2 -c 200 -m 100 -n "$WR_STORM_USERS" -e wr-storm -u s -d 120 \
            >"$RES/wr_storm.json" 2>"$RES/wr_storm.err" || rc=$?
        phase_end wr_storm
        if [ "$rc" = 0 ] && [ -s "$RES/wr_storm.json" ]; then
            say_load wr_storm "$RES/wr_storm.json"
        else
            tk_warn "live: the join storm failed (status $rc): $(head -c 300 "$RES/wr_storm.err")"
            rm -f "$RES/wr_storm.json"
        fi

        live_wr_create wr-admit "$WR_RELEASE" || tk_warn "live: could not create event wr-admit"
        rc=0
        local spid
        live_sample_admitted wr-admit "$RES/wr_admit.samples" 330 &
        spid=$!
        phase_begin
        timeout 400 "$WATCHBENCH" -p "$LIVE_PORT" -M queue -A -P h2 -c 200 -m 100 -n "$WR_ADMIT_USERS" -e wr-admit -u a -d 300 \
            >"$RES/wr_admit.drv.json" 2>"$RES/wr_admit.err" || rc=$?
        phase_end wr_admit
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
        if [ "$rc" = 0 ] && [ -s "$RES/wr_admit.drv.json" ]; then
            local view meas srate
            view=$(admin GET /v1/admin/events/wr-admit/queue 2>/dev/null || echo '{}')
            meas=$(sed -n 's/.*"measured_release_per_s":\([0-9.]*\).*/\1/p' <<<"$view")
            srate=$(live_admit_rate "$RES/wr_admit.samples" "$WR_ADMIT_USERS")
            sed "s/}\$/,\"configured_per_s\":$WR_RELEASE,\"room_rate_per_s\":$srate,\"measured_release_per_s\":$(nn "$meas")}/" "$RES/wr_admit.drv.json" >"$RES/wr_admit.json"
            say_load wr_admit "$RES/wr_admit.json"
        else
            tk_warn "live: the admission load failed (status $rc): $(head -c 300 "$RES/wr_admit.err")"
        fi
    else
        tk_warn "live: waiting room NOT MEASURED: $live_wr_reason"
    fi
    gw_pid=$main_pid gw_http=$main_http
    live_stop_gateway
}

# ---- results (after live_phase) -------------------------------------------------

lr() { local v; v=$(jget "$RES/$1.json" "$2" 2>/dev/null); nn "$v"; }

# The keys of latest.json, as '  "key": value,' lines.
live_json_fields() {
    local adm ratio reason=null
    adm=$(lr wr_admit room_rate_per_s)
    ratio=null
    [ "$adm" = null ] || ratio=$(calc "$adm / $WR_RELEASE")
    [ -z "$live_wr_reason" ] || reason="\"$(printf '%s' "$live_wr_reason" | tr -d '\042\134\n' | cut -c1-300)\""
    cat <<EOF
  "live_h2_held": $(lr live_h2_hold held),
  "live_h2_held_target": $LIVE_H2_HELD,
  "live_h2_conns": $(lr live_h2_hold conns),
  "live_h2_bytes_per_held": $(lr live_h2_hold bytes_per_held),
  "live_h2_rss_before_kb": $(lr live_h2_hold rss_before_kb),
  "live_h2_rss_held_kb": $(lr live_h2_hold rss_held_kb),
  "live_h2_watch_held_metric": $(lr live_h2_hold watch_held_metric),
  "live_h1_held": $(lr live_h1_hold held),
  "live_h1_held_target": $LIVE_H1_HELD,
  "live_h1_bytes_per_held": $(lr live_h1_hold bytes_per_held),
  "live_h1_rss_before_kb": $(lr live_h1_hold rss_before_kb),
  "live_h1_rss_held_kb": $(lr live_h1_hold rss_held_kb),
  "live_h1_watch_held_metric": $(lr live_h1_hold watch_held_metric),
  "live_heartbeats_per_s": $(lr live_beat rps),
  "live_heartbeats_metric_per_s": $(lr live_beat heartbeats_metric_per_s),
  "live_heartbeats_p99_ms": $(lr live_beat p99_ms),
  "live_fanout_watchers": $LIVE_FANOUT_WATCHERS,
  "live_fanout_rounds": $(lr live_fanout rounds),
  "live_fanout_last_p50_ms": $(lr live_fanout last_p50_ms),
  "live_fanout_last_p99_ms": $(lr live_fanout last_p99_ms),
  "live_fanout_last_max_ms": $(lr live_fanout last_max_ms),
  "live_fanout_missed": $(lr live_fanout missed),
  "wr_join_storm_users": $WR_STORM_USERS,
  "wr_join_storm_joined": $(lr wr_storm joined),
  "wr_join_storm_seconds": $(lr wr_storm join_seconds),
  "wr_join_storm_per_s": $(lr wr_storm joins_per_s),
  "wr_join_storm_places_ok": $(lr wr_storm places_ok),
  "wr_join_storm_duplicates": $(lr wr_storm duplicates),
  "wr_join_storm_order_violations": $(lr wr_storm order_violations),
  "wr_admit_configured_per_s": $WR_RELEASE,
  "wr_admit_achieved_per_s": $adm,
  "wr_admit_achieved_vs_configured": $ratio,
  "wr_admit_client_per_s": $(lr wr_admit admit_rate_per_s),
  "wr_admit_measured_metric_per_s": $(lr wr_admit measured_release_per_s),
  "wr_admit_users": $WR_ADMIT_USERS,
  "wr_admit_admitted": $(lr wr_admit admitted),
  "wr_not_measured": $reason,
EOF
}

live_cpu() { # NAME: the phase's CPU (% of one core) and answers, as bench.sh's table shows them
    local f=$RES/$1.cpu
    [ -s "$f" ] || return 0
    echo "[$(sed -n 's/.*"statuses":"\([^"]*\)".*/\1/p' "$f")] cpu% redis $(jget "$f" redis_cpu_pct) gw $(jget "$f" gw_cpu_pct) gen $(jget "$f" loadgen_cpu_pct) all $(jget "$f" machine_cpu_pct)/$(($(nproc) * 100))"
}
live_row() { printf '| %-44s | %12s | %9s | %9s | %s\n' "$@"; }
live_rows() {
    live_row "held watches HTTP/2 TLS (held)" "$(lr live_h2_hold held)" "" "" "target $LIVE_H2_HELD on $(lr live_h2_hold conns) conns; $(lr live_h2_hold bytes_per_held) B/held (RSS $(lr live_h2_hold rss_before_kb) -> $(lr live_h2_hold rss_held_kb) kB); tk_watch_held $(lr live_h2_hold watch_held_metric); ready in $(lr live_h2_hold seconds_to_ready) s; 503 $(lr live_h2_hold s503)"
    live_row "held watches HTTP/1.1 TLS (held)" "$(lr live_h1_hold held)" "" "" "target $LIVE_H1_HELD, a connection each; $(lr live_h1_hold bytes_per_held) B/held (RSS $(lr live_h1_hold rss_before_kb) -> $(lr live_h1_hold rss_held_kb) kB); tk_watch_held $(lr live_h1_hold watch_held_metric); connected in $(lr live_h1_hold connect_s) s, ready in $(lr live_h1_hold seconds_to_ready) s; 503 $(lr live_h1_hold s503), errors $(lr live_h1_hold errors)"
    live_row "heartbeats: watch?wait=0 HTTP/2 16x32" "$(lr live_beat rps)" "$(lr live_beat p50_ms)" "$(lr live_beat p99_ms)" "a new user each; gateway metric $(lr live_beat heartbeats_metric_per_s)/s; $(live_cpu live_beat)"
    live_row "claim -> last of $LIVE_FANOUT_WATCHERS watchers (ms)" "$(lr live_fanout rounds) rounds" "$(lr live_fanout last_p50_ms)" "$(lr live_fanout last_p99_ms)" "max $(lr live_fanout last_max_ms); each watcher p50 $(lr live_fanout each_p50_ms) p99 $(lr live_fanout each_p99_ms); missed $(lr live_fanout missed); $(live_cpu live_fanout)"
    if [ -n "$live_wr_reason" ]; then
        live_row "waiting room (join storm, admission)" "null" "" "" "not measured: $live_wr_reason"
    else
        live_row "join storm: $WR_STORM_USERS users" "$(lr wr_storm joins_per_s)" "" "" "in $(lr wr_storm join_seconds) s; places ok $(lr wr_storm places_ok) (dup $(lr wr_storm duplicates), missing $(lr wr_storm missing), order $(lr wr_storm order_violations)); $(live_cpu wr_storm)"
        live_row "admission at release_per_s $WR_RELEASE" "$(lr wr_admit room_rate_per_s)" "" "" "the room's admitted count, 10 % -> 90 %; as the users saw it $(lr wr_admit admit_rate_per_s)/s; admitted $(lr wr_admit admitted)/$WR_ADMIT_USERS, expired $(lr wr_admit expired), 503 $(lr wr_admit s503); the room's measured_release_per_s $(lr wr_admit measured_release_per_s); $(live_cpu wr_admit)"
    fi
}

live_bar() { # NAME VALUE OP LIMIT TEXT (n/a: a waiting-room bar on a build without the room)
    local verdict=MISS
    if [ "$2" != null ] && [ -n "$2" ] && awk "BEGIN { exit !($2 $3 $4) }"; then
        verdict=PASS
    elif [ -n "$live_wr_reason" ] && [[ "$1" =~ ^(join|admission) ]]; then
        verdict=n/a
    fi
    printf '  %-4s %-52s %s\n' "$verdict" "$1" "$5"
}
live_bars() {
    local x
    x=$(lr live_h2_hold held)
    live_bar "held watches HTTP/2 >= $LIVE_H2_HELD" "$x" '>=' "$LIVE_H2_HELD" "$x held, $(lr live_h2_hold bytes_per_held) B each"
    x=$(lr live_h1_hold held)
    live_bar "held watches HTTP/1.1 TLS >= $LIVE_H1_HELD" "$x" '>=' "$LIVE_H1_HELD" "$x held, $(lr live_h1_hold bytes_per_held) B each"
    x=$(lr live_fanout last_p99_ms)
    live_bar "claim -> last watcher answered, p99 <= 1000 ms" "$x" '<=' 1000 "$x ms over $(lr live_fanout rounds) rounds, $LIVE_FANOUT_WATCHERS watchers (API.md: within 1 s)"
    x=$(lr wr_storm join_seconds)
    live_bar "join storm: $WR_STORM_USERS joins within 5 s" "$x" '<=' 5 "${x} s ($(lr wr_storm joined) joined)"
    x=$(lr wr_storm places_ok)
    live_bar "join storm: places 1..N once each, in order" "$x" '==' 1 "dup $(lr wr_storm duplicates), missing $(lr wr_storm missing), out of range $(lr wr_storm out_of_range), order $(lr wr_storm order_violations)"
    x=null
    [ "$(lr wr_admit room_rate_per_s)" = null ] || x=$(calc "$(lr wr_admit room_rate_per_s) / $WR_RELEASE")
    local d=null
    [ "$x" = null ] || d=$(calc "($x > 1) ? $x - 1 : 1 - $x")
    live_bar "admission achieved within 5 % of configured" "$d" '<=' 0.05 "$x = $(lr wr_admit room_rate_per_s) / $WR_RELEASE"
}

# BENCH_PHASES=live: only this phase ran; its keys go to latest-live.json
# (latest.json is left to the full run), then its rows and bars.
live_report_alone() {
    cat >"$OUT_DIR/latest-live.json.tmp" <<EOF
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "phases": "live",
  "gw_threads": $GW_THREADS,
  "cores": $(nproc),
$(live_json_fields)
  "phases_cpu": {
$(for f in "$RES"/*.cpu; do [ -s "$f" ] && printf '    "%s": %s,\n' "$(basename "$f" .cpu)" "$(cat "$f")"; done | sed '$ s/,$//')
  }
}
EOF
    mv "$OUT_DIR/latest-live.json.tmp" "$OUT_DIR/latest-live.json"
    echo
    live_row "load" "per s" "p50 ms" "p99 ms" "notes"
    live_row "--------------------------------------------" "------------" "---------" "---------" "-----"
    live_rows
    echo
    echo "bars (live phase alone):"
    live_bars
    echo
    tk_say "wrote $OUT_DIR/latest-live.json"
}
