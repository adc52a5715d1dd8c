--[[
lb_import.lua: one chunk of tk-import (tools/tk_import_cli.c) into one season
of a board, atomic: every user of the chunk replaces their entry (set
semantics) with a real sequence number, and no stale member stays behind in
the zset.

KEYS[1] tk:lb:{B}        the board hash
KEYS[2] tk:lb:{B}:z:<N>  the season's zset (score -c1, member tk_lb_member())
KEYS[3] tk:lb:{B}:u:<N>  the season's users hash (user -> "c1 c2 t_ms seq")
ARGV[1] the board's current season as tk-import read it: the chunk is
        refused when a rollover moved it since, or when the schedule has
        ended it (the next lb_write.lua call would move it)
ARGV[2] components (1 or 2)
ARGV[3] the highest t_ms of the chunk (decimal)
ARGV[4] n, the users of the chunk (distinct: tk-import kept the last line
        of a user), in rank order, ties in file order
ARGV[5 + 4(i-1) ..] per user i: user id, entry without its seq
        ("c1 c2 t_ms"), zset score (-c1, decimal, formatted in C), zset
        member up to its seq (the c2 key and 13 digits of time, tk_lb.h,
        formatted in C): the script appends the seq (10 digits) and the id

Why the import cannot lose a race with a live write (docs/DESIGN.md,
"Leaderboards: import and export"). The chunk draws n numbers from the
board's `seq` (the counter lb_write.lua draws from) in this atomic step,
user i taking seq + i, and returns the first; tk-import then upserts the
rows into MariaDB with those seqs under the worker's newer-rule (replace
only a lower seq). A live write that ran before this step has a lower seq:
it loses here (replaced) and in MariaDB (whenever the worker drains it). A
live write after this step has a higher seq: it wins in both. So both
stores end at the same entry whatever order the worker and tk-import reach
MariaDB in. Consecutive seqs in the chunk's order keep ties (same score,
same ms) in file order, so an export (rank order) loads back in its order.

Why the season is the one the clock says. lb_write.lua first moves a board
whose schedule has ended (max(TIME, last_t) >= start + len * 1000) to the
next season; this script applies the same test and refuses
('season_moved <S>') rather than write into a season that is over.
last_t (times are monotonic per board) becomes max(last_t, min(ARGV[3],
TIME)): never lower, and never above Redis's clock, so an imported time
cannot push every later live write's time into the future (tk-import also
refuses any updated_at more than 1 s ahead of its host clock).

Why no stale member is left. A user's member encodes c2, the time and the
sequence of their entry, so a new entry is a new member: the old one must
be removed, or the user would hold two places. The old entry is read from
the users hash inside this script (HMGET) and its member rebuilt from it
with the encoding of common/tk_lb.h — done here with strings, not numbers,
except the one exact subtraction 2^53 - 1 - c2 (every operand an integer
below 2^53, so the double is exact, printed with %d, never tostring). As
the script is atomic, no score write of the board can slip between the read
of the old entry and the ZREM: the zset and the users hash stay one-to-one
(ZCARD == HLEN), which it_import checks after a re-import.

Returns {n, replaced, first seq}; an error reply 'not_found' when the board
hash is gone, 'season_moved <S>' when the current season is no longer
ARGV[1] or its schedule has ended it, 'seq_full' past TK_LB_SEQ_MAX,
'bad_entry <user>' when an old entry cannot be read (nothing written then:
the checks come before the first write).
]]
local f = string.format
local h = redis.call('HMGET', KEYS[1], 'season', 'len', 'start', 'last_t', 'seq')
local cur = h[1]
if not cur then
    return redis.error_reply('not_found')
end
if cur ~= ARGV[1] then
    return redis.error_reply('season_moved ' .. cur)
end
local len, start = tonumber(h[2]) or 0, tonumber(h[3]) or 0
local last_t, seq = tonumber(h[4]) or 0, tonumber(h[5]) or 0
local tm = redis.call('TIME')
local clock = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local now = clock
if now < last_t then
    now = last_t
end
if len > 0 and now >= start + len * 1000 then
    return redis.error_reply('season_moved ' .. cur)
end
local comps = ARGV[2]
local n = tonumber(ARGV[4])
if seq + n > 9999999999 then
    return redis.error_reply('seq_full')
end

local users = {}
for i = 1, n do
    users[i] = ARGV[5 + 4 * (i - 1)]
end
local olds = {}
if n > 0 then
    olds = redis.call('HMGET', KEYS[3], unpack(users))
end

local function pad(s, w)
    return string.rep('0', w - #s) .. s
end

local rem = {}
for i = 1, n do
    local o = olds[i]
    if o then
        local _, c2, t, q = string.match(o, '^(%-?%d+) (%-?%d+) (%d+) (%d+)$')
        if not q then
            return redis.error_reply('bad_entry ' .. users[i])
        end
        local m = pad(t, 13) .. pad(q, 10) .. users[i]
        if comps == '2' then
            if string.sub(c2, 1, 1) == '-' then
                m = '1' .. pad(string.sub(c2, 2), 16) .. m
            else
                m = '0' .. string.format('%016d', 9007199254740991 - tonumber(c2)) .. m
            end
        end
        rem[#rem + 1] = m
    end
end

if #rem > 0 then
    redis.call('ZREM', KEYS[2], unpack(rem))
end
local zadd, hset = {}, {}
for i = 1, n do
    local a = 5 + 4 * (i - 1)
    zadd[2 * i - 1] = ARGV[a + 2]
    local q = f('%010d', seq + i)
    zadd[2 * i] = ARGV[a + 3] .. q .. ARGV[a]
    hset[2 * i - 1] = ARGV[a]
    hset[2 * i] = ARGV[a + 1] .. ' ' .. f('%d', seq + i)
end
if n > 0 then
    redis.call('ZADD', KEYS[2], unpack(zadd))
    redis.call('HSET', KEYS[3], unpack(hset))
end
local t = tonumber(ARGV[3])
if t > clock then
    t = clock
end
if t < last_t then
    t = last_t
end
redis.call('HSET', KEYS[1], 'seq', f('%d', seq + n), 'last_t', f('%d', t))
return {n, #rem, seq + 1}
