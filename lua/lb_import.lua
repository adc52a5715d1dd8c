--[[
lb_import.lua: one chunk of tk-import (tools/tk_import_cli.c) into one season
of a board, atomic: every user of the chunk replaces their entry (set
semantics), and no stale member stays behind in the zset.

KEYS[1] tk:lb:{B}        the board hash
KEYS[2] tk:lb:{B}:z:<N>  the season's zset (score -c1, member tk_lb_member())
KEYS[3] tk:lb:{B}:u:<N>  the season's users hash (user -> "c1 c2 t_ms seq")
ARGV[1] the board's current season as tk-import read it: the chunk is
        refused when a rollover moved it since (the import is then stopped,
        MariaDB already holds every row; docs/DESIGN.md)
ARGV[2] components (1 or 2)
ARGV[3] the highest t_ms of the chunk (decimal): last_t = max(last_t, it)
ARGV[4] n, the users of the chunk (distinct: tk-import kept the last line
        of a user)
ARGV[5 + 4(i-1) ..] per user i: user id, entry ("c1 c2 t_ms 0"), zset score
        (-c1, decimal, formatted in C), zset member (tk_lb_member(), in C)

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

Returns {n, replaced}; an error reply 'not_found' when the board hash is
gone, 'season_moved <S>' when the current season is no longer ARGV[1],
'bad_entry <user>' when an old entry cannot be read (nothing written then:
the checks come before the first write).
]]
local cur = redis.call('HGET', KEYS[1], 'season')
if not cur then
    return redis.error_reply('not_found')
end
if cur ~= ARGV[1] then
    return redis.error_reply('season_moved ' .. cur)
end
local comps = ARGV[2]
local n = tonumber(ARGV[4])

local users = {}
for i = 1, n do
    users[i] = ARGV[5 + 4 * (i - 1)]
end
local olds = redis.call('HMGET', KEYS[3], unpack(users))

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
    zadd[2 * i] = ARGV[a + 3]
    hset[2 * i - 1] = ARGV[a]
    hset[2 * i] = ARGV[a + 1]
end
if n > 0 then
    redis.call('ZADD', KEYS[2], unpack(zadd))
    redis.call('HSET', KEYS[3], unpack(hset))
end
local last = tonumber(redis.call('HGET', KEYS[1], 'last_t') or '0') or 0
if tonumber(ARGV[3]) > last then
    redis.call('HSET', KEYS[1], 'last_t', ARGV[3])
end
return {n, #rem}
