-- 012: each gateway's PEER_ALIVE_MS beside its beat (gateway/failover/gw_peers.h,
-- "Windows that differ"). A reader counts a peer alive while its beat is
-- younger than the larger of its own PEER_ALIVE_MS and the peer's, so that
-- a gateway configured with a longer window than a peer's is never read as
-- dead while its own rules (a merge's slow beat, the blip exception) still
-- take it for alive. 0 = not said (a row of a release before this column):
-- the reader's own window, as before. Re-runnable.
ALTER TABLE gateway_beats ADD COLUMN IF NOT EXISTS alive_ms INT UNSIGNED NOT NULL DEFAULT 0;
