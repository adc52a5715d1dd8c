-- confirm.lua: after a worker's COMMIT, tell Redis what the database holds
-- and release the stream entries. Runs atomically; data only via KEYS/ARGV.
--
-- KEYS[1] tk:{E}:claims   hash: user id -> "<ticket> <qty> <created_ms> <status>"
-- KEYS[2] tk:{E}:q        stream of granted claims
-- KEYS[3] tk:{E}:ev       event hash (remaining)
-- ARGV[1] consumer group ("wk")
-- ARGV[2..] triplets: entry id, user id, status letter
--   ('c' confirmed, 'r' rejected, 'x' cancelled; '-' = only ack the entry,
--   for an entry that could not be parsed)
--
-- A record whose status is still 'p' takes the given letter; any other
-- letter is left alone (an admin cancel or a fallback write got there first,
-- and their word stands). Then the entries are XACKed and XDELed, so XLEN
-- of the stream stays equal to the claims not yet written.
-- Returns the number of records changed.
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
--    or 'c' record into 'x', returning the units; a confirm 'c' that comes
--    after that finds 'x' and changes nothing.
--  - a confirm replayed (worker killed before its XACK, entry re-claimed by
--    XAUTOCLAIM and written again, or this script sent twice): the record is
--    no longer 'p', so nothing moves; XACK/XDEL of a released entry are no-ops.
-- Units of 'r' (rejected) records stay taken, as the claim script took them:
-- a rejection means the two stores disagree, and Redis must not sell again
-- what the database may not hold; docs/DESIGN.md says how the books show it.
-- So Redis's granted = total - remaining counts the units of the 'p', 'c'
-- and 'r' records; at quiescence no record is 'p' and granted equals
-- MariaDB's confirmed plus rejected units.

local claims, stream, ev, group = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
if (#ARGV - 1) % 3 ~= 0 then
    return redis.error_reply('ERR confirm: arguments must be triplets')
end

-- Validate everything before changing anything.
for i = 4, #ARGV, 3 do
    local letter = ARGV[i]
    if letter ~= 'c' and letter ~= 'r' and letter ~= 'x' and letter ~= '-' then
        return redis.error_reply('ERR confirm: bad status letter ' .. letter)
    end
end

-- One HMGET for every record and one HSET for every change: a command per
-- row would cost Redis as much as granting the claims did.
local ids, users, letters = {}, {}, {}
for i = 2, #ARGV, 3 do
    ids[#ids + 1] = ARGV[i]
    if ARGV[i + 2] ~= '-' then
        users[#users + 1] = ARGV[i + 1]
        letters[#letters + 1] = ARGV[i + 2]
    end
end

local changed, released = 0, 0
local step = 500 -- unpack() is limited by the Lua stack: work in slices
for i = 1, #users, step do
    local j = math.min(i + step - 1, #users)
    local recs = redis.call('HMGET', claims, unpack(users, i, j))
    local set = {}
    for k = i, j do
        local rec = recs[k - i + 1]
        if rec and string.sub(rec, -2) == ' p' then
            if letters[k] == 'x' then
                local qty = tonumber(string.match(rec, '^%d+ (%d+) '))
                if qty then
                    released = released + qty
                else
                    -- Only claim.lua writes records; never seen. Keep the
                    -- record as it is rather than mark it without its units.
                    redis.log(redis.LOG_WARNING, 'confirm: malformed claim record of ' .. users[k])
                    letters[k] = 'p'
                end
            end
            if letters[k] ~= 'p' then
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

for i = 1, #ids, step do
    local j = math.min(i + step - 1, #ids)
    redis.call('XACK', stream, group, unpack(ids, i, j))
    redis.call('XDEL', stream, unpack(ids, i, j))
end
return changed
