--[[
lb_write.lua: apply a batch of score writes to one board, atomically; or
roll its season over by hand. docs/CONTRACTS.md, "Leaderboards and the
priority presale"; docs/DESIGN.md, "Leaderboards: writes and seasons".

KEYS[1] tk:lb:{B}     board hash (comps, op, len, season, start, last_t, seq)
KEYS[2] tk:lb:{B}:sn  seasons hash: season -> "<start_ms> <end_ms>"
KEYS[3] tk:lb:{B}:q   stream the workers drain into MariaDB
ARGV[1] "0": apply the entries; "1": roll the season over now (no entries)
ARGV[2], ARGV[3], ARGV[4], ... triples of user id, c1, c2 in arrival order
        (c2 "" when the entry gave one component). The gateway validated
        the ids and that each component is an integer in
        [-(2^53 - 1), 2^53 - 1] (common/tk_lb.h, TK_LB_SCORE_MAX).

The keys of a season, tk:lb:{B}:z:<N> and tk:lb:{B}:u:<N>, are built here
from KEYS[1]: which season is current is only known inside this atomic
step (that is the point). They carry the board's hash tag, so they live in
the slot of KEYS[1] on a cluster.

Returns {"not_found"} when the board does not exist; else, for entries,
{season, results}: results has one character per entry, in order:
  "a"  applied: the user's entry changed (new time, seq, stream entry)
  "u"  unchanged: a valid write that left the score equal (any operator),
       or a lower score under "best": nothing written at all
  "r"  refused: an "incr" whose result leaves the range; nothing changed
  "i"  invalid for this board: one component given to a board of two,
       or two to a board of one; nothing changed
For a rollover: {season, "", previous season, its start, its end}: the
new season began at the previous one's end.

Why the rank is exact (common/tk_lb.h): the zset score is -c1, an integer
of at most 53 bits, written with string.format('%d'); c2, the time and the
sequence sit in the member, fixed width, so byte order is rank order. Lua
numbers are doubles: every value here is an integer of magnitude below
2^53 except an "incr" sum, which may round; but a rounded sum is outside
the range exactly when the true sum is (rounding is monotonic and 2^53 is
a double), so the range check is exact and nothing rounded is ever
stored. Nothing is formatted with tostring or ".." (that prints %.14g).

Why a write belongs to exactly one season. Redis runs a script alone. The
script first moves the board to the season the clock says is current
(by schedule: k whole periods past the start -> season + k, start +
k*len; the seasons in between are empty and never written), then applies
every entry of the batch to that season's keys. Time is made monotonic per
board: now = max(TIME, last_t), so every entry's time t lies in
[start, end) of the season it was written to (a rollover by hand ends the
season at max(TIME, last_t + 1), after every time given), and a rollover
(by schedule or by hand, also a call of this script) happens between two
calls, never inside one. A batch is thus written whole to one season, and the stream
carries each entry with that season's number.

Ties. All entries of one call get the same time t and consecutive
sequence numbers (seq, HINCRBY semantics, kept in a local and written once
at the end): two users reaching the same score in one ms are ordered by
arrival. A write that leaves the score equal changes nothing, so a user
keeps the time they first reached it.

Kept seasons: the current one and TK_LB_KEEP_CLOSED (3) closed ones. A
rollover from season s to n UNLINKs the keys of the seasons that fall out
of [n - 3, n] (at most the four that were kept), so old seasons' keys never
accumulate; reads of them go to MariaDB.
]]

local b, sn, q = KEYS[1], KEYS[2], KEYS[3]
local KEEP = 3
local MAX = 9007199254740991 -- 2^53 - 1, TK_LB_SCORE_MAX
local f = string.format

local h = redis.call('HMGET', b, 'comps', 'op', 'len', 'season', 'start', 'last_t', 'seq')
if not h[1] then
  return {'not_found'}
end
local comps, op = tonumber(h[1]), h[2]
local len, season, start = tonumber(h[3]), tonumber(h[4]), tonumber(h[5])
local last_t, seq = tonumber(h[6]), tonumber(h[7])
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
if now < last_t then
  now = last_t
end

-- Closes season @old (begun at @old_start) at @ended and makes @new, begun
-- at @started, the current one.
local function roll(old, old_start, ended, new, started)
  redis.call('HSET', sn, f('%d', old), f('%d %d', old_start, ended), f('%d', new), f('%d 0', started))
  redis.call('HSET', b, 'season', f('%d', new), 'start', f('%d', started))
  redis.call('XADD', q, '*', 'k', 'r', 's', f('%d', new), 't', f('%d', started), 'p', f('%d', old), 'e', f('%d', ended))
  local from = old - KEEP
  if from < 1 then
    from = 1
  end
  for s = from, math.min(old, new - 1 - KEEP) do
    redis.call('UNLINK', b .. f(':z:%d', s), b .. f(':u:%d', s))
  end
  season, start = new, started
end

-- The schedule first: a write never lands in a season whose time is over.
if len > 0 and now >= start + len * 1000 then
  local k = math.floor((now - start) / (len * 1000))
  -- k exactly: the division of two integers below 2^53 may round up to the next whole period
  while start + k * len * 1000 > now do
    k = k - 1
  end
  roll(season, start, start + len * 1000, season + k, start + k * len * 1000)
end

if ARGV[1] == '1' then
  -- The end is past every time given so far (a write of this very ms has
  -- t = last_t), so the closed season is [start, end) for all its entries.
  if now <= last_t then
    now = last_t + 1
  end
  local old, old_start = season, start
  roll(old, old_start, now, old + 1, now)
  redis.call('HSET', b, 'last_t', f('%d', now))
  return {season, '', old, old_start, now}
end

local z, u = b .. f(':z:%d', season), b .. f(':u:%d', season)

-- The zset member of an entry (common/tk_lb.c, tk_lb_member); @tk is the
-- time's 13 digits when already formatted (every new entry shares it).
local function member(c1, c2, t, s, user, tk)
  local m = (tk or f('%013d', t)) .. f('%010d', s) .. user
  if comps == 2 then
    if c2 >= 0 then
      m = '0' .. f('%016d', MAX - c2) .. m
    else
      m = '1' .. f('%016d', -c2) .. m
    end
  end
  return m
end

local out = {}
local applied = 0
local sf, nowf, nowk = f('%d', season), f('%d', now), f('%013d', now) -- the same for every entry
for i = 2, #ARGV, 3 do
  local user, a, bs = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local res
  if (bs == '' and comps ~= 1) or (bs ~= '' and comps ~= 2) then
    res = 'i'
  else
    local c1, c2 = a, 0
    if bs ~= '' then
      c2 = tonumber(bs)
    end
    local old = redis.call('HGET', u, user)
    local o1, o2, ot, oq
    if old then
      local s1, s2, s3, s4 = string.match(old, '^(%-?%d+) (%-?%d+) (%d+) (%d+)$')
      o1, o2, ot, oq = tonumber(s1), tonumber(s2), tonumber(s3), tonumber(s4)
    end
    if op == 'incr' and old then
      c1, c2 = o1 + c1, o2 + c2
    end
    if c1 > MAX or c1 < -MAX or c2 > MAX or c2 < -MAX then
      res = 'r'
    elseif old and ((c1 == o1 and c2 == o2) or (op == 'best' and (c1 < o1 or (c1 == o1 and c2 < o2)))) then
      res = 'u'
    else
      seq = seq + 1
      if old then
        redis.call('ZREM', z, member(o1, o2, ot, oq, user))
      end
      local a1, b1, qf = f('%d', c1), f('%d', c2), f('%d', seq)
      redis.call('ZADD', z, f('%d', -c1), member(c1, c2, now, seq, user, nowk))
      redis.call('HSET', u, user, a1 .. ' ' .. b1 .. ' ' .. nowf .. ' ' .. qf)
      redis.call('XADD', q, '*', 'k', 's', 's', sf, 'u', user, 'a', a1, 'b', b1, 't', nowf, 'q', qf)
      applied = applied + 1
      res = 'a'
    end
  end
  out[#out + 1] = res
end
if applied > 0 then
  redis.call('HSET', b, 'seq', f('%d', seq), 'last_t', f('%d', now))
end
return {season, table.concat(out)}
