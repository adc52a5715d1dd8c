-- confirm.lua: after a worker's COMMIT, tell Redis what the database holds
-- and release the stream entries. Runs atomically; data only via KEYS/ARGV.
--
-- KEYS[1] tk:{E}:claims   hash: user id -> "<ticket> <qty> <created_ms> <status>"
-- KEYS[2] tk:{E}:q        stream of granted claims
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

local claims, stream, group = KEYS[1], KEYS[2], ARGV[1]
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

local changed = 0
local ids = {}
for i = 2, #ARGV, 3 do
    local id, user, letter = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    ids[#ids + 1] = id
    if letter ~= '-' then
        local rec = redis.call('HGET', claims, user)
        if rec and string.sub(rec, -2) == ' p' then
            redis.call('HSET', claims, user, string.sub(rec, 1, -2) .. letter)
            changed = changed + 1
        end
    end
end

-- unpack() is limited by the Lua stack: release the ids in slices.
local step = 500
for i = 1, #ids, step do
    local j = math.min(i + step - 1, #ids)
    redis.call('XACK', stream, group, unpack(ids, i, j))
    redis.call('XDEL', stream, unpack(ids, i, j))
end
return changed
