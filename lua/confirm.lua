-- confirm.lua: after a worker's COMMIT, tell Redis what the database holds
-- and release the stream entries. Runs atomically; data only via KEYS/ARGV.
--
-- KEYS[1] tk:{E}:claims   hash: user id -> "<ticket> <qty> <created_ms> <status>"
-- KEYS[2] tk:{E}:q        stream of granted claims
-- KEYS[3] tk:{E}:ev       event hash (remaining)
-- ARGV[1] consumer group ("wk")
-- ARGV[2] n, the number of entry ids that follow
-- ARGV[3 .. 2+n] the entry ids of the batch: every entry whose row the
--   worker committed (whatever its status) or could not parse
-- ARGV[3+n ..] triples: user id, status letter, ticket, only for the claims
--   whose row is not 'confirmed': 'r' rejected, 'x' cancelled (rare: the
--   stock guard, a dead letter, an admin cancel that came first, an entry
--   that is not a claim but names one: worker/wk_malformed.c)
--
-- A record whose status is still 'p' and whose ticket is the given one
-- takes the given letter; any other record is left alone (an admin cancel
-- or a fallback write got there first, and their word stands; or the
-- record is not the claim of that entry: a user who claims again after a
-- rebuild dropped their record holds a new ticket, and a replayed confirm
-- of the old entry must not mark the new claim). Then the entries are
-- XACKed, and the stream is
-- trimmed up to the first entry that is not acked yet (below). Returns the
-- number of records changed.
--
-- Confirming costs per batch, not per claim
-- -----------------------------------------
-- A confirmed claim's record is NOT rewritten: it keeps its 'p'. What says
-- "confirmed" is that its stream entry is gone. The rule, used by every
-- reader that shows a status (lua/watermark.lua for GET …/claims/{user},
-- lua/claim.lua for a retry's 200):
--
--   a record "<ticket> … p" is confirmed iff ticket < B, where B is the
--   ticket of the oldest entry still in tk:{E}:q, or seq + 1 when the stream
--   is empty (seq read in the same atomic step).
--
-- Why the rule is exact (for entries of one claim; packed entries below).
-- (1) Only claim.lua writes 'p' records, and it
-- writes the record and XADDs its entry in one atomic step, drawing tickets
-- seq + 1, seq + 2, … in stream order; seq never goes down (a rebuild sets
-- max(seq, ticket_hwm), and writes records from MariaDB rows, never 'p').
-- So tickets rise along the stream. (2) An entry leaves the stream only
-- here, and only once it is acked and every entry before it is acked too
-- (the trim below), and it is acked only here, after the COMMIT of its row
-- (worker/wk_drain.c). (3) A row whose status is not 'confirmed' has its
-- letter written here, in the same step as its XACK, so before its entry
-- can leave the stream. Then: a 'p' record with ticket T < B had its entry
-- (which existed: (1)) removed, so its row is committed (2), and as the
-- record still says 'p', that row is confirmed (3). A 'p' record with
-- T >= B: if the stream is non-empty, the entry of ticket B is still there
-- and T's entry is after it (1), still in the stream: not acked, maybe not
-- committed — pending. If it is empty, T > seq cannot be (T was drawn from
-- seq), so every 'p' record is confirmed, which (2) and (3) make true.
--
-- Packed entries (issue 16). claim.lua writes one entry per call holding
-- every claim the call granted, one line each, tickets ascending; the
-- rule reads B from the oldest entry's first line. It stays exact: (1')
-- the call draws its tickets seq + 1 .. seq + k and XADDs their one entry
-- in the same atomic step, so an entry's tickets are consecutive and every
-- later entry's are higher: tickets still rise along the stream, and the
-- first line holds its entry's lowest ticket. (2') An entry is still one
-- stream id, removed only as above, and a worker sends its id here only
-- when EVERY row of it has a status — committed, or stored in claims_dead
-- (worker/wk_confirm.c); one row held or skipped keeps the whole entry
-- pending, its committed rows found again when it is replayed. So an
-- entry gone from the stream means all its claims are committed, and the
-- argument above goes through line for line: a 'p' record with T < B had
-- its entry removed, so its row is committed; one with T >= B is in the
-- entry of B or after it. Inside claim.lua, before its own XADD at the end
-- of the call, the claims granted so far are in no entry yet: there the
-- empty-stream bound is the seq the call started from + 1 (those claims'
-- tickets are above it), never the running seq. (3) is unchanged: a row's
-- letter comes with (or before) its entry's release.
--
-- Several workers drain one stream through one group, so batches commit
-- out of ticket order: worker A holds tickets 1..100 while B commits
-- 101..200. That is why the watermark is not "the highest ticket
-- confirmed" (it would call A's uncommitted claims confirmed) but the
-- oldest entry left, and why the trim stops at the oldest entry not yet
-- acked: B's entries stay in the stream, acked, until A's are, and their
-- claims read "pending" meanwhile — late, never wrong. The bound is
-- computed here, in one atomic step, from the group's own books:
--   - XPENDING's summary gives the smallest id still pending in the group
--     (read, not acked: a worker writing it, or a dead one's, waiting for
--     XAUTOCLAIM);
--   - entries after the group's last-delivered-id were never read;
--   - every other entry is acked, so committed.
-- So the stream is trimmed (XTRIM MINID, exact) below the smallest pending
-- id when there is one, else below last-delivered-id, and the entry
-- last-delivered-id itself is XDELed (MINID keeps its threshold). A pending
-- entry is never removed, so XAUTOCLAIM still finds every entry a dead
-- worker left. At quiescence nothing is pending and everything was
-- delivered, so the stream is empty (XLEN 0); in between it holds the
-- entries not yet written and may also hold acked ones that wait behind an
-- older pending one (the admin view's "pending", counted in claims by
-- lua/admin_view.lua, is an upper bound).
--
-- A status lookup racing a confirm sees the script's state before or after
-- it, never between (both are scripts). A worker that dies between its
-- COMMIT and this script leaves its entries pending: their claims read
-- "pending" until another worker re-claims them, finds the rows and runs
-- this script (the rows' letters again); no read ever says "confirmed"
-- early, and the replay changes nothing twice.
--
-- Why a cancel's units come back to `remaining` exactly once
-- ----------------------------------------------------------
-- The rule, shared with admin_cancel.lua: the step that turns a record into
-- 'x' returns its units, and no other step does. Both scripts read the letter
-- and write 'x' in one atomic step, and nothing turns an 'x' back, so exactly
-- one step ever sees the record leave p/c for 'x'. Here that is a 'p' record
-- told 'x' (the worker found the claim's row already 'cancelled'); there it
-- is a 'p' or 'c' record. The admin cancel commits its 'cancelled' row under
-- the event_stock lock before its Redis step, and a worker writes a claim
-- only under that lock, so a worker says 'x' only for a row that is
-- cancelled for good. Every order then ends with the units back once:
--  - cancel (row and Redis step) before the worker's transaction: the
--    record is 'x' when the worker confirms 'x'; nothing more moves.
--  - cancel's row first, the worker (waiting on the stock row, or reading
--    later) sees it and confirms 'x' before the cancel's Redis step: the
--    units come back here; the Redis step finds 'x' and answers 200.
--  - cancel answered 503 after its commit (Redis step failed), retried
--    before or after the worker's confirm: the same two cases.
--  - the worker committed 'confirmed' first, then the cancel: its row goes
--    confirmed -> cancelled (sold -= qty) and the Redis step turns the 'p'
--    or 'c' record into 'x', returning the units; the confirm leaves the
--    record alone anyway.
--  - a confirm replayed (worker killed before its XACK, entry re-claimed by
--    XAUTOCLAIM and written again, or this script sent twice): the record is
--    no longer 'p', so nothing moves; XACK of a released entry is a no-op.
-- Units of 'r' (rejected) records stay taken, as the claim script took them:
-- a rejection means the two stores disagree, and Redis must not sell again
-- what the database may not hold; docs/DESIGN.md says how the books show it.
-- So Redis's granted = total - remaining counts the units of the 'p' and 'r'
-- records (and 'c' ones a rebuild wrote); at quiescence the stream is empty,
-- every 'p' record is confirmed, and granted equals MariaDB's confirmed plus
-- rejected units.

local claims, stream, ev, group = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local n = tonumber(ARGV[2])
if not n or n < 0 or n ~= math.floor(n) or 2 + n > #ARGV or (#ARGV - 2 - n) % 3 ~= 0 then
    return redis.error_reply('ERR confirm: expected group, n, n ids, then user/letter/ticket triples')
end

-- Validate everything before changing anything.
local users, letters, tickets = {}, {}, {}
for i = 3 + n, #ARGV, 3 do
    local letter = ARGV[i + 1]
    if letter ~= 'r' and letter ~= 'x' then
        return redis.error_reply('ERR confirm: bad status letter ' .. letter)
    end
    if not string.match(ARGV[i + 2], '^%d+$') then
        return redis.error_reply('ERR confirm: bad ticket ' .. ARGV[i + 2])
    end
    users[#users + 1] = ARGV[i]
    letters[#letters + 1] = letter
    tickets[#tickets + 1] = ARGV[i + 2]
end

-- The rare records that change: one HMGET, one HSET.
local changed, released = 0, 0
local step = 500 -- unpack() is limited by the Lua stack: work in slices
for i = 1, #users, step do
    local j = math.min(i + step - 1, #users)
    local recs = redis.call('HMGET', claims, unpack(users, i, j))
    local set = {}
    for k = i, j do
        local rec = recs[k - i + 1]
        if rec and string.sub(rec, -2) == ' p' and string.match(rec, '^%d+') == tickets[k] then
            local keep = false
            if letters[k] == 'x' then
                local qty = tonumber(string.match(rec, '^%d+ (%d+) '))
                if qty then
                    released = released + qty
                else
                    -- Only claim.lua writes records; never seen. Keep the
                    -- record as it is rather than mark it without its units.
                    redis.log(redis.LOG_WARNING, 'confirm: malformed claim record of ' .. users[k])
                    keep = true
                end
            end
            if not keep then
                set[#set + 1] = users[k]
                set[#set + 1] = string.sub(rec, 1, -2) .. letters[k]
                changed = changed + 1
            end
        end
    end
    if #set > 0 then
        redis.call('HSET', claims, unpack(set))
    end
end
if released > 0 and redis.call('EXISTS', ev) == 1 then
    redis.call('HINCRBY', ev, 'remaining', released)
    redis.call('HINCRBY', ev, 'ver', 1)
end

for i = 3, 2 + n, step do
    redis.call('XACK', stream, group, unpack(ARGV, i, math.min(i + step - 1, 2 + n)))
end

-- The trim: below the oldest entry of the group not yet acked (see above).
if n > 0 and redis.call('EXISTS', stream) == 1 then
    local pend = redis.call('XPENDING', stream, group)
    if pend[1] > 0 then
        redis.call('XTRIM', stream, 'MINID', pend[2])
    else
        local last = nil
        for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
            local name, ld = nil, nil
            for k = 1, #g, 2 do
                if g[k] == 'name' then
                    name = g[k + 1]
                elseif g[k] == 'last-delivered-id' then
                    ld = g[k + 1]
                end
            end
            if name == group then
                last = ld
            end
        end
        if last then
            redis.call('XTRIM', stream, 'MINID', last)
            redis.call('XDEL', stream, last)
        end
    end
end
return changed
