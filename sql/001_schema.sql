-- 001: events, the guarded stock row, claims, the fallback lock table.
-- Ids are ASCII and compared byte for byte: user ids are case-sensitive
-- ("U-1" and "u-1" are two users), so ascii_bin, never a _ci collation.

CREATE TABLE events (
    event_id      VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name          VARCHAR(200) NOT NULL,
    max_per_user  INT UNSIGNED NOT NULL,
    opens_at      DATETIME(3)  NULL,          -- NULL: open at once
    closes_at     DATETIME(3)  NULL,          -- NULL: until sold out or closed
    state         ENUM('open','paused','closed') NOT NULL DEFAULT 'open',
    created_at    DATETIME(3)  NOT NULL,
    updated_at    DATETIME(3)  NOT NULL,
    PRIMARY KEY (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The guarded stock row. Every writer of claims for an event locks this row
-- first (SELECT ... FOR UPDATE), so it is also the per-event serialisation
-- point in the database; the CHECK makes an oversell impossible even for a
-- buggy writer.
CREATE TABLE event_stock (
    event_id      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    total         BIGINT UNSIGNED NOT NULL,
    sold          BIGINT UNSIGNED NOT NULL DEFAULT 0,
    ticket_hwm    BIGINT UNSIGNED NOT NULL DEFAULT 0,  -- highest ticket stored
    PRIMARY KEY (event_id),
    CONSTRAINT stock_guard CHECK (sold <= total),
    CONSTRAINT stock_event FOREIGN KEY (event_id) REFERENCES events (event_id)
) ENGINE=InnoDB;

CREATE TABLE claims (
    event_id      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    claim_id      VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ticket        BIGINT UNSIGNED NOT NULL,
    quantity      INT UNSIGNED NOT NULL,
    status        ENUM('confirmed','rejected','cancelled') NOT NULL,
    reason        VARCHAR(64) NULL,
    created_at    DATETIME(3) NOT NULL,       -- when Redis granted it
    confirmed_at  DATETIME(3) NOT NULL,       -- when this row was written
    updated_at    DATETIME(3) NOT NULL,
    PRIMARY KEY (event_id, user_id),          -- one claim per user per event
    UNIQUE KEY claims_id (claim_id),
    KEY claims_ticket (event_id, ticket),
    CONSTRAINT claims_event FOREIGN KEY (event_id) REFERENCES events (event_id)
) ENGINE=InnoDB;

-- Lock table for the Redis-down fallback path: one row per event; a holder
-- takes it with a random token and an expiry in a short transaction and must
-- present the same token to renew or release it.
CREATE TABLE event_locks (
    event_id      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    holder        VARCHAR(128) NULL,
    token         CHAR(32) CHARACTER SET ascii NULL,
    expires_at    DATETIME(3) NULL,
    PRIMARY KEY (event_id),
    CONSTRAINT locks_event FOREIGN KEY (event_id) REFERENCES events (event_id)
) ENGINE=InnoDB;
