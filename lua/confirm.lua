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

local changed = 0
local step = 500 -- unpack() is limited by the Lua stack: work in slices
for i = 1, #users, step do
    local j = math.min(i + step - 1, #users)
    local recs = redis.call('HMGET', claims, unpack(users, i, j))
    local set = {}
    for k = i, j do
        local rec = recs[k - i + 1]
        if rec and string.sub(rec, -2) == ' p' then
            set[#set + 1] = users[k]
            set[#set + 1] = string.sub(rec, 1, -2) .. letters[k]
            changed = changed + 1
        end
    end
    if #set > 0 then
        redis.call('HSET', claims, unpack(set))
    end
end

for i = 1, #ids, step do
    local j = math.min(i + step - 1, #ids)
    redis.call('XACK', stream, group, unpack(ids, i, j))
    redis.call('XDEL', stream, unpack(ids, i, j))
end
return changed
