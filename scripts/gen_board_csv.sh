#!/usr/bin/env bash
# gen_board_csv.sh N [PREFIX] [SEED]: prints a leaderboard CSV of N users for
# tk-import (header user_id,level,exp,updated_at), for timing the import by
# hand (docs/DESIGN.md, "Leaderboards: import and export"): levels 1-100,
# exp 0-99,999, updated_at RFC 3339 with ms over the 30 days before
# 2025-11-01 (so many users tie on level and exp and are ranked by time).
set -euo pipefail
n=${1:?usage: gen_board_csv.sh N [PREFIX] [SEED]}
prefix=${2:-u-}
seed=${3:-1}
awk -v n="$n" -v p="$prefix" -v seed="$seed" 'BEGIN {
    srand(seed)
    print "user_id,level,exp,updated_at"
    t0 = 1761955200 - 30 * 86400   # 2025-10-02T00:00:00Z
    for (i = 1; i <= n; i++) {
        s = t0 + int(rand() * 30 * 86400)
        printf "%s%d,%d,%d,%s.%03dZ\n", p, i, 1 + int(rand() * 100), int(rand() * 100000), strftime("%Y-%m-%dT%H:%M:%S", s, 1), int(rand() * 1000)
    }
}'
