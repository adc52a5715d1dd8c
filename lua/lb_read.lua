--[[
lb_read.lua: every public read of a leaderboard in one round trip
(GET /v1/boards/{B}/top, …/users/{U}, …/users/{U}/around, POST …/ranks;
gateway/boards/gw_board_read.c).

KEYS[1]  tk:lb:{B}   the board's hash (docs/CONTRACTS.md, "Leaderboards")
ARGV[1]  the shape: top | user | around | ranks | many
ARGV[2]  the season: "current" or a decimal number (the gateway checked it);
         many: unused (each read names its own)
ARGV[3]  closed seasons Redis keeps besides the current one (TK_LB_KEEP_CLOSED)
ARGV[4..] top: offset, limit   user: user id   around: user id, radius
          ranks: the user ids (1-1000; duplicates are listed once)
          many: 4 per read, 1-512 reads: shape (user | around), season
          ("current" or a number), user id, radius ("0" for user)

Why many. On a board of a million users a user read cost Redis 19.5 us
as a script call of its own, of which 7.6 us were the commands (HMGET,
HGET, ZRANK): the rest is the call (EVALSHA's lookup, argument and reply
handling, the script's set-up, TIME, and the client's I/O). The gateway gathers the user and around reads of one loop turn for
one board (gateway/boards/gw_board_reader.h) into one call of shape many:
the board hash is read once, the clock once, each season asked resolved
once (also the pend check), and each read answered as its own single call
would be at the same instant, in the order asked, as one element of the
returned array. One call is one atomic step, so the reads of a call see one
state of the board, as each single call does. Measured (200,000 users,
Redis 7.0, Redis's own CPU per read): a user read from about 21 us alone to
about 8-9 us in calls of 8 to 128; an around read (radius 5) only from
about 40 to about 31 us: most of it is the page itself, ZRANGE WITHSCORES
(the scores printed as text, %.17g) and its 22 strings into Lua and out
again, which no batching shares.

Which season. The hash says the current season `season` began at `start`;
with `len` > 0 it ends at start + len*1000. When the board's clock
(max(TIME, last_t), as lb_write.lua reads it) is at or past that end, the
current season is the one a write would move to (season + k for k whole
periods passed): it is empty, and this script does not write it (a
reader never rolls a board over; the next write or roll script does, and
moves to the same number). So `current` is always the number a write at
this instant would use. A season above it, or 0, does not exist. A season
above `season` but not above the virtual current is one the schedule
skipped or has just begun: empty. Redis keeps the current season and
ARGV[3] (TK_LB_KEEP_CLOSED, 3) closed ones. An older one is read here
while tk:lb:{B}:pend counts score entries of it not yet in MariaDB
(lb_write.lua keeps a season's keys past the window, in tk:lb:{B}:drop,
until that count is 0, so they exist while it is above 0); MariaDB may
still lack those last writes. At 0 (field absent) MariaDB has all of it
and the answer is "not here": the gateway reads it from MariaDB, even
while lb_write.lua has not yet removed the keys (a season imported by
tk-import into MariaDB alone meanwhile is then seen at once). The pend
key is named from KEYS[1], as the season keys are: same hash tag.

Why the ranks are exact: the zset orders by -c1, then by the member, whose
bytes are c2 (as a key), time, sequence, user (common/tk_lb.h). ZRANK of a
member rebuilt from the users hash is the user's place; the member is
rebuilt here with the same fixed widths as tk_lb_member(), from the
integers of the hash value, formatted with string.format('%d') (exact for
every component up to 2^53 - 1; tostring would print %.14g).

Keys. The season keys tk:lb:{B}:z:<N> and :u:<N> are named here, from
KEYS[1] and the season this script resolves: the gateway cannot know
`current` before the call, and one call is the point. They carry KEYS[1]'s
hash tag, so they live in its Redis Cluster slot, and the gateway's ACL
pattern tk:lb:* covers them (docs/DESIGN.md, "Leaderboards: reads").

Returns, with N the season's number and C the board's components:
  {1, N, C, first_rank, member, score, member, score, ...}   top, around
  {2, N, C, user, value, rank, user, value, rank, ...}       user, ranks
      (the users hash value "<c1> <c2> <t_ms> <seq>"; by rank; none when
      the user has no entry; for around: the user has none)
  {3, N, C}   N is older than Redis keeps, its keys gone: read MariaDB
  {4}         no such board
  {5}         no such season (0, or above the current one)
  {6}         the users hash and the zset disagree (never written so)
  many: {answer 1, answer 2, ...}, one per read in the order asked, each
      exactly what its single shape returns ({4} for each when there is no
      board; {3}, {5} or {6} for a read concern that read alone)
]]
local board = KEYS[1]
local h = redis.call('HMGET', board, 'comps', 'len', 'season', 'start', 'last_t')
if not h[3] then
    if ARGV[1] == 'many' then
        local out = {}
        for i = 4, #ARGV, 4 do
            out[#out + 1] = {4}
        end
        return out
    end
    return {4}
end
local comps, len, season, start = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]), tonumber(h[4]) or 0

-- The clock as lb_write.lua reads it (max(TIME, last_t)), and its k, so both count the same season.
local current = season
if len > 0 then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local last_t = tonumber(h[5]) or 0
    if now < last_t then
        now = last_t
    end
    local period = len * 1000
    if now >= start + period then
        local k = math.floor((now - start) / period)
        while start + k * period > now do -- the division may round up to the next whole period
            k = k - 1
        end
        current = season + k
    end
end

-- Which season @asked ("current" or a number) names, resolved once per call and spelling: a table with the
-- season's number, whether it is empty, and its keys; or, in .answer, the whole answer of a read of it ({3}, {5}).
local keep = tonumber(ARGV[3])
local resolved = {}
local function season_of(asked)
    local s = resolved[asked]
    if s then
        return s
    end
    local want = current
    if asked ~= 'current' then
        want = tonumber(asked)
    end
    if want < 1 or want > current then
        s = {answer = {5}}
    else
        local sn = string.format('%d', want)
        if want < current - keep and tonumber(redis.call('HGET', board .. ':pend', sn) or '0') <= 0 then
            s = {answer = {3, want, comps}}
        else
            -- empty: skipped or just begun by the schedule, never written
            s = {want = want, empty = want > season, z = board .. ':z:' .. sn, u = board .. ':u:' .. sn}
        end
    end
    resolved[asked] = s
    return s
end

local function range(s, first, last)
    local out = {1, s.want, comps, first + 1}
    if not s.empty then
        local r = redis.call('ZRANGE', s.z, string.format('%d', first), string.format('%d', last), 'WITHSCORES')
        for i = 1, #r do
            out[#out + 1] = r[i]
        end
    end
    return out
end

-- The zset member of @user with users hash value @v (tk_lb_member), or nil when @v is malformed.
local function member(v, user)
    local c1, c2, t, q = string.match(v, '^(%-?%d+) (%-?%d+) (%d+) (%d+)$')
    if not c1 then
        return nil
    end
    local m = ''
    if comps == 2 then
        local n = tonumber(c2)
        if n >= 0 then
            m = '0' .. string.format('%016d', 9007199254740991 - n)
        else
            m = '1' .. string.format('%016d', -n)
        end
    end
    return m .. string.format('%013d', tonumber(t)) .. string.format('%010d', tonumber(q)) .. user
end

-- The 0-based rank of @user (value @v) in season @s, or nil when the zset does not hold the member.
local function rank_of(s, v, user)
    local m = member(v, user)
    if not m then
        return nil
    end
    local r = redis.call('ZRANK', s.z, m)
    if not r then
        return nil
    end
    return r
end

-- A read of @shape ('user' or 'around', with @radius) of @user in season @s (resolved, not an answer).
local function user_read(s, shape, user, radius)
    local v = (not s.empty) and redis.call('HGET', s.u, user)
    if not v then
        return {2, s.want, comps}
    end
    local r = rank_of(s, v, user)
    if not r then
        return {6}
    end
    if shape == 'user' then
        return {2, s.want, comps, user, v, r + 1}
    end
    local first = r - tonumber(radius)
    if first < 0 then
        first = 0
    end
    return range(s, first, r + tonumber(radius))
end

local shape = ARGV[1]

if shape == 'many' then
    local out = {}
    for i = 4, #ARGV, 4 do
        local s = season_of(ARGV[i + 1])
        out[#out + 1] = s.answer or user_read(s, ARGV[i], ARGV[i + 2], ARGV[i + 3])
    end
    return out
end

local s = season_of(ARGV[2])
if s.answer then
    return s.answer
end

if shape == 'top' then
    local offset, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
    return range(s, offset, offset + limit - 1)
end

if shape == 'user' or shape == 'around' then
    return user_read(s, shape, ARGV[4], ARGV[5])
end

-- ranks
local out = {2, s.want, comps}
if s.empty then
    return out
end
local seen, users = {}, {}
for i = 4, #ARGV do
    local user = ARGV[i]
    if not seen[user] then
        seen[user] = true
        users[#users + 1] = user
    end
end
local vals = redis.call('HMGET', s.u, unpack(users))
local found = {}
for i = 1, #users do
    local v = vals[i]
    if v then
        local r = rank_of(s, v, users[i])
        if not r then
            return {6}
        end
        found[#found + 1] = {r, users[i], v}
    end
end
table.sort(found, function(a, b)
    return a[1] < b[1]
end)
for i = 1, #found do
    out[#out + 1] = found[i][2]
    out[#out + 1] = found[i][3]
    out[#out + 1] = found[i][1] + 1
end
return out
