-- 010: which gateways are alive, for the fallback (gateway/failover/gw_peers.c).
-- The lock-table fallback grants from MariaDB only while no other gateway
-- is alive: a gateway serving the same event from Redis meanwhile would
-- hand out the same tickets. Every gateway beats here about every second
-- (and first thing in every merge back to Redis); a fallback grant
-- transaction counts the other gateways that beat within the last
-- GW_PEER_ALIVE_MS and refuses (read-only answers) when there is one.
--  - gateway_beats: one row per gateway process (holder = the holder id of
--    event_locks, "gw-<host>-<pid>"), beat_at on MariaDB's clock; the row
--    is deleted at clean shutdown, a dead process's row just ages out.
--  - gateway_fence: one row whose lock orders beats against grants. A beat
--    takes it exclusively (and bumps n); a grant transaction takes it
--    shared before it counts the beats, so a beat waits for every grant
--    transaction under way and every later one sees it (gw_peers.h).
-- The application user already holds every privilege on its database
-- (scripts/services.sh), so no grant is needed here. Re-runnable.
CREATE TABLE IF NOT EXISTS gateway_beats (
    holder  VARCHAR(128) NOT NULL PRIMARY KEY,
    beat_at DATETIME(3)  NOT NULL
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS gateway_fence (
    id TINYINT NOT NULL PRIMARY KEY,
    n  BIGINT  NOT NULL
) ENGINE=InnoDB;

INSERT IGNORE INTO gateway_fence (id, n) VALUES (1, 0);
