-- 005: admin changes made idempotent and ordered across MariaDB and Redis
-- (issue 10, hole 6; gateway/admin/gw_idem.h, gateway/admin/gw_admin.c).
--
-- admin_requests: one row per Idempotency-Key an admin write was sent with,
-- inserted in the same transaction as the change it made, so the key exists
-- exactly when the change committed. A retry with the same key and the same
-- request (fingerprint) gets the stored status and body back; another
-- request under the key is refused (422). Rows expire after 24 h and are
-- pruned a few at a time by later admin writes (expires_at index).
CREATE TABLE IF NOT EXISTS admin_requests (
    idem_key      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    fingerprint   BINARY(32)  NOT NULL,       -- SHA-256 of the route and the validated request
    event_id      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    status        SMALLINT UNSIGNED NOT NULL, -- the answer's HTTP status
    body          BLOB        NULL,           -- the answer's body; NULL until the Redis step answered
    created_at    DATETIME(3) NOT NULL,
    expires_at    DATETIME(3) NOT NULL,
    PRIMARY KEY (idem_key),
    KEY admin_requests_expiry (expires_at)
) ENGINE=InnoDB;

-- Versions of an event's admin-set values, bumped under the row lock by
-- each committed change. Redis keeps the version it last applied (fields
-- stock_ver and state_ver of tk:{E}:ev) and applies a change only when its
-- version is at least that one, so late or repeated Redis steps never undo
-- a later change.
ALTER TABLE event_stock ADD COLUMN IF NOT EXISTS stock_ver BIGINT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN IF NOT EXISTS state_ver BIGINT UNSIGNED NOT NULL DEFAULT 0;
