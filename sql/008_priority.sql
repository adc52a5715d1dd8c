-- 008: an event's priority presale (docs/API.md "Priority presale").
-- pr_board/pr_top/pr_opens_at are the setting (pr_board NULL: none).
-- The snapshot is taken once, at pr_opens_at: MariaDB is its record
-- (event_priority rows and pr_snapshot_at written in one transaction, only
-- while pr_snapshot_at IS NULL), Redis holds the copy the claim script
-- reads (tk:{E}:prio, ev fields pr_snap and pr_n).
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS pr_board       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD COLUMN IF NOT EXISTS pr_top         INT UNSIGNED NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS pr_opens_at    DATETIME(3) NULL,
    ADD COLUMN IF NOT EXISTS pr_snapshot_at DATETIME(3) NULL;

CREATE TABLE IF NOT EXISTS event_priority (
    event_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    `rank`   INT UNSIGNED NOT NULL,          -- the user's rank on the board when the snapshot was taken
    PRIMARY KEY (event_id, user_id),
    CONSTRAINT priority_event FOREIGN KEY (event_id) REFERENCES events (event_id)
) ENGINE=InnoDB;
