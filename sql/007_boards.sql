-- 007: leaderboards (docs/API.md "Leaderboards", docs/CONTRACTS.md).
-- MariaDB is the record: Redis is rebuilt from these tables when it lost a
-- board. Scores reach board_scores through the workers (the board's stream),
-- coalesced per user; a row is replaced only by a newer write (a higher
-- seq, or a later t_ms for rows written with seq 0 by tk-import), so a
-- replayed stream entry cannot move a user back.
-- Rank order, as in Redis: c1 DESC, c2 DESC, t_ms, seq, user_id (bytes).
CREATE TABLE IF NOT EXISTS boards (
    board_id        VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name            VARCHAR(200) NOT NULL,
    components      TINYINT UNSIGNED NOT NULL,            -- 1 or 2
    operator        ENUM('best','set','incr') NOT NULL,
    season_length_s INT UNSIGNED NOT NULL DEFAULT 0,       -- 0: seasons roll over only by hand
    created_at      DATETIME(3)  NOT NULL,
    PRIMARY KEY (board_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per season a worker saw begin (a rollover entry of the stream,
-- and season 1 at create). ended_ms NULL while current.
CREATE TABLE IF NOT EXISTS board_seasons (
    board_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    season     INT UNSIGNED NOT NULL,
    started_ms BIGINT NOT NULL,
    ended_ms   BIGINT NULL,
    PRIMARY KEY (board_id, season),
    CONSTRAINT seasons_board FOREIGN KEY (board_id) REFERENCES boards (board_id)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS board_scores (
    board_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    season   INT UNSIGNED NOT NULL,
    user_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    c1       BIGINT NOT NULL,
    c2       BIGINT NOT NULL DEFAULT 0,
    t_ms     BIGINT NOT NULL,            -- when the user reached this score
    seq      BIGINT UNSIGNED NOT NULL,   -- the board's sequence at that write; 0: imported
    PRIMARY KEY (board_id, season, user_id),
    KEY board_rank (board_id, season, c1 DESC, c2 DESC, t_ms, seq, user_id),
    CONSTRAINT scores_board FOREIGN KEY (board_id) REFERENCES boards (board_id)
) ENGINE=InnoDB;
