-- 011: the Redis each gateway's journal was written for (gateway/failover/gw_peers.h,
-- "After a Redis restart"). A merge back to Redis writes its journal to
-- MariaDB when Redis's run_id changed since its last check, then sets
-- checked_run = SHA2(run_id, 256) here, and reads MariaDB for its rebuilds
-- only once every other live gateway's checked_run is that run_id's: a
-- Redis that came back empty is never rebuilt without a peer's undrained
-- grants. '' = never checked (a row the beat just created). Re-runnable.
ALTER TABLE gateway_beats ADD COLUMN IF NOT EXISTS checked_run CHAR(64) NOT NULL DEFAULT '';
