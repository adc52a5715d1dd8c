-- 006: an event's waiting room (docs/API.md "Waiting room").
-- wr_on: only admitted users may claim (lua/claim.lua, and the fallback
-- path reads it here). The settings are the record; Redis holds the live
-- copy in the event hash (wr, wr_rate, wr_ttl, wr_opens) and the room's
-- own hash (paused). The places themselves live only in Redis: a lost
-- Redis loses the line, never a claim.
-- wr_ver: bumped under the row lock by each committed room update (POST
-- /v1/admin/events/{E}/queue); Redis keeps the version it last applied (ev
-- field wr_ver) and applies an update only when it is not older, as
-- state_ver does for the state (sql/005).
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS wr_on            TINYINT(1)   NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS wr_release_per_s INT UNSIGNED NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS wr_access_ttl_s  INT UNSIGNED NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS wr_opens_at      DATETIME(3)  NULL,
    ADD COLUMN IF NOT EXISTS wr_paused        TINYINT(1)   NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS wr_ver           BIGINT UNSIGNED NOT NULL DEFAULT 0;
