-- 003: "Redis is stale for this event", durably.
-- The fallback (gateway/failover/gw_fallback_grant.c) sets stale_token in the same
-- transaction that writes its journal into MariaDB, before it grants
-- anything; the merge back to Redis clears it (only if it still carries the
-- token it read) after the event was rebuilt in Redis from MariaDB. A
-- gateway that starts, or whose Redis comes back, rebuilds every event
-- flagged here before it serves claims from Redis (gateway/gw_path_ctl.c),
-- so a gateway killed during the fallback cannot leave Redis selling from
-- books older than MariaDB's.
ALTER TABLE event_locks
    ADD COLUMN IF NOT EXISTS stale_token CHAR(32) CHARACTER SET ascii NULL,
    ADD COLUMN IF NOT EXISTS stale_since DATETIME(3) NULL;
