-- 004: the drain's dead letters. A stream entry MariaDB refuses for good
-- (an error no retry can fix, caused by that entry's own row: a ticket the
-- event already stored for another user, a value out of range, …) is
-- stored here, in its own transaction, and released from the stream, so
-- one bad entry never stops the drain (docs/DESIGN.md, "Hole 3"). No
-- unique key beyond the entry itself and no foreign key: whatever made the
-- claims row impossible must not make this row impossible too. A replay of
-- the same entry finds its row (primary key) and adds nothing.
CREATE TABLE IF NOT EXISTS claims_dead (
    event_id      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    entry_id      VARCHAR(48) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, -- the stream entry, "<ms>-<seq>"
    user_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ticket        BIGINT UNSIGNED NOT NULL,
    quantity      INT UNSIGNED NOT NULL,
    created_at    DATETIME(3) NOT NULL,       -- when Redis granted it
    error         INT UNSIGNED NOT NULL,      -- MariaDB error number (or the worker's own check, 0)
    reason        VARCHAR(255) NOT NULL,      -- what failed, for the operator
    dead_at       DATETIME(3) NOT NULL,
    PRIMARY KEY (event_id, entry_id),
    KEY claims_dead_user (event_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
