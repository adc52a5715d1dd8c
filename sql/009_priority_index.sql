-- 009: indexes for the priority snapshot's lists (gateway/claims/gw_prio.c,
-- sql_todo and sql_copy; every gateway runs both every 200 ms).
--  - events_prio_todo: the events whose snapshot is not taken yet
--    (pr_snapshot_at IS NULL) by pr_opens_at, then event_id (the primary
--    key, in every InnoDB secondary index): the keyset walk of sql_todo.
--  - events_opens: the events not open yet (opens_at > now) by opens_at,
--    event_id: the walk of sql_copy, over the future events only.
-- Re-runnable (IF NOT EXISTS).
CREATE INDEX IF NOT EXISTS events_prio_todo ON events (pr_snapshot_at, pr_opens_at);
CREATE INDEX IF NOT EXISTS events_opens ON events (opens_at);
