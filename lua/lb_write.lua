--[[
lb_write.lua: apply a batch of score writes to one board, atomically; or
roll its season over by hand. docs/CONTRACTS.md, "Leaderboards and the
priority presale"; docs/DESIGN.md, "Leaderboards: writes and seasons".

KEYS[1] tk:lb:{B}     board hash (comps, op, len, season, start, last_t, seq)
KEYS[2] tk:lb:{B}:sn  seasons hash: season -> "<start_ms> <end_ms>"
KEYS[3] tk:lb:{B}:q   stream the workers drain into MariaDB: per call, the
        changed users' last values, TK_LB_PACK_MAX (64) per entry:
        k m  s <season>  t <ms>  n <lines>  d "<user> <c1> <c2> <seq>\n..."
KEYS[4] tk:lb:{B}:pend  hash: season -> its scores in KEYS[3] not yet acked
KEYS[5] tk:lb:{B}:drop  list: closed seasons out of the kept window whose keys
        wait for their pend count to reach 0, oldest first
ARGV[1] "0": apply the entries; "1": roll the season over now (no entries)
ARGV[2] TK_LB_KEEP_CLOSED: closed seasons kept besides the current one
ARGV[3], ARGV[4], ARGV[5], ... triples of user id, c1, c2 in arrival order
        (c2 "" when the entry gave one component). The gateway validated
        the ids and that each component is an integer in
        [-(2^53 - 1), 2^53 - 1] (common/tk_lb.h, TK_LB_SCORE_MAX).

The keys of a season, tk:lb:{B}:z:<N> and tk:lb:{B}:u:<N>, are built here
from KEYS[1]: which season is current is only known inside this atomic
step (that is the point). They carry the board's hash tag, so they live in
the slot of KEYS[1] on a cluster.

Returns {"not_found"} when the board does not exist; else, for entries,
{season, results}: results has one character per entry, in order:
  "a"  applied: the user's entry changed (new time, seq; on the stream)
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

Bulk (measured on a 1,000,000-user board: 30.6 -> 24.5 us of Redis per
entry, docs/DESIGN.md). The users' entries are read with one HMGET per
1,000 users, the entries applied in arrival order to a Lua table, and
only each changed user's last value is written back: one ZREM, ZADD and
HSET per 1,000, one XADD per 64 users. The script runs alone, so no
reader can see a value the call overwrote within itself: the zset, the
hash and the stream end as entry-by-entry commands would leave them,
minus the overwritten steps, and the worker would have coalesced those
away anyway (only the latest value of a user is written to MariaDB).

Ties. All entries of one call get the same time t and consecutive
sequence numbers (seq, HINCRBY semantics, kept in a local and written once
at the end): two users reaching the same score in one ms are ordered by
arrival. A write that leaves the score equal changes nothing, so a user
keeps the time they first reached it.

Kept seasons: the current one and ARGV[2] (TK_LB_KEEP_CLOSED, 3) closed
ones. A rollover from season s to n RPUSHes the seasons that fall out of
[n - KEEP, n] (at most the KEEP + 1 that were kept) onto KEYS[5], in
order; their keys are not removed yet: some of their score entries may
still be in the stream, not in MariaDB, and a read of the season must not
show MariaDB's older ranks meanwhile (lb_read.lua reads a season below the
window from Redis while its count below is above 0). KEYS[4] counts, per season, the
scores XADDed and not yet acked (HINCRBY here by the lines written,
lua/lb_ack.lua takes an entry's lines off in the step that XACKs and
XDELs it). Every call of this
script, after its rollover if any, UNLINKs the keys of at most DROP_STEP
seasons from the head of KEYS[5] whose count is 0 (absent) and LPOPs them:
such a season is closed (no write can reach it again: writes go to the
current season only) and every one of its entries is in MariaDB, so
MariaDB answers it exactly as its zset would. The head blocks the ones
behind it: the stream is drained in order, the oldest season first, so
the wait is that of the stream; DROP_STEP bounds the work of one call (a
list that grows faster, KEEP + 1 per rollover at most, is only reached by
rolling over by hand faster than the workers drain).
]]

local b, sn, q, pend, drop = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local KEEP = tonumber(ARGV[2])
local DROP_STEP = 4
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
    redis.call('RPUSH', drop, f('%d', s))
  end
  season, start = new, started
  -- The board's clock never goes back before the current season's start,
  -- even when this call applies nothing: after a backwards step of TIME a
  -- later entry's time still lies in [start, end). (started <= now here,
  -- so this call's own times are unchanged; a rollover by hand sets
  -- last_t to its end again just after.)
  if last_t < started then
    last_t = started
    redis.call('HSET', b, 'last_t', f('%d', started))
  end
end

-- At most DROP_STEP seasons from the head of the drop list whose entries
-- are all in MariaDB (pend count absent; lb_ack.lua HDELs it at 0): their keys go.
local function drop_drained()
  for _ = 1, DROP_STEP do
    local s = redis.call('LINDEX', drop, 0)
    if not s or tonumber(redis.call('HGET', pend, s) or '0') > 0 then
      return
    end
    redis.call('UNLINK', b .. ':z:' .. s, b .. ':u:' .. s)
    redis.call('LPOP', drop)
  end
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
  drop_drained()
  return {season, '', old, old_start, now}
end

drop_drained()

local z, u = b .. f(':z:%d', season), b .. f(':u:%d', season)
local CHUNK = 1000 -- arguments of one bulk command at most (Lua's unpack has a bound near 8000)
local PACK = 64 -- score lines of one stream entry at most (TK_LB_PACK_MAX: the worker's read is bounded by it)
local sf, nowf, nowk = f('%d', season), f('%d', now), f('%013d', now) -- the same for every entry

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

-- Sends @cmd on @key with the values of @args, CHUNK (a multiple of @step) at a time.
local function bulk(cmd, key, args, step)
  local per = CHUNK - CHUNK % step
  for lo = 1, #args, per do
    redis.call(cmd, key, unpack(args, lo, math.min(lo + per - 1, #args)))
  end
end

-- Every user's entry before this call, in one HMGET per CHUNK users:
-- cur[user] = {c1, c2, t, seq} or false. The entries are then applied to
-- cur in arrival order, in Lua, and only each changed user's last value
-- is written back, in bulk, at the end: the script runs alone, so nobody
-- can observe a value this call overwrote within itself, and the result
-- is the one entry-by-entry commands would leave. Per-command overhead is
-- paid per call, not per entry (docs/DESIGN.md, "Leaderboards: writes").
local cur, users = {}, {}
for i = 3, #ARGV, 3 do
  local user = ARGV[i]
  if cur[user] == nil then
    cur[user] = false
    users[#users + 1] = user
  end
end
for lo = 1, #users, CHUNK do
  local hi = math.min(lo + CHUNK - 1, #users)
  local vals = redis.call('HMGET', u, unpack(users, lo, hi))
  for j = lo, hi do
    local v = vals[j - lo + 1]
    if v then
      local s1, s2, s3, s4 = string.match(v, '^(%-?%d+) (%-?%d+) (%d+) (%d+)$')
      cur[users[j]] = {tonumber(s1), tonumber(s2), tonumber(s3), tonumber(s4)}
    end
  end
end

local out, changed, before = {}, {}, {}
for i = 3, #ARGV, 3 do
  local user, a, bs = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local res
  if (bs == '' and comps ~= 1) or (bs ~= '' and comps ~= 2) then
    res = 'i'
  else
    local c1, c2 = a, 0
    if bs ~= '' then
      c2 = tonumber(bs)
    end
    local o = cur[user]
    if op == 'incr' and o then
      c1, c2 = o[1] + c1, o[2] + c2
    end
    if c1 > MAX or c1 < -MAX or c2 > MAX or c2 < -MAX then
      res = 'r'
    elseif o and ((c1 == o[1] and c2 == o[2]) or (op == 'best' and (c1 < o[1] or (c1 == o[1] and c2 < o[2])))) then
      res = 'u'
    else
      seq = seq + 1
      if before[user] == nil then
        before[user] = o -- the entry Redis holds (false: none), whose member goes
        changed[#changed + 1] = user
      end
      cur[user] = {c1, c2, now, seq}
      res = 'a'
    end
  end
  out[#out + 1] = res
end

if #changed > 0 then
  local zrem, zadd, hset, lines = {}, {}, {}, {}
  for _, user in ipairs(changed) do
    local o, v = before[user], cur[user]
    if o then
      zrem[#zrem + 1] = member(o[1], o[2], o[3], o[4], user)
    end
    local a1, b1, qf = f('%d', v[1]), f('%d', v[2]), f('%d', v[4])
    zadd[#zadd + 1] = f('%d', -v[1])
    zadd[#zadd + 1] = member(v[1], v[2], now, v[4], user, nowk)
    hset[#hset + 1] = user
    hset[#hset + 1] = a1 .. ' ' .. b1 .. ' ' .. nowf .. ' ' .. qf
    lines[#lines + 1] = user .. ' ' .. a1 .. ' ' .. b1 .. ' ' .. qf
  end
  bulk('ZREM', z, zrem, 1)
  bulk('ZADD', z, zadd, 2)
  bulk('HSET', u, hset, 2)
  -- The stream: PACK users' last values per entry (k = m), the season's count by as many.
  for lo = 1, #lines, PACK do
    local hi = math.min(lo + PACK - 1, #lines)
    redis.call('XADD', q, '*', 'k', 'm', 's', sf, 't', nowf, 'n', f('%d', hi - lo + 1), 'd', table.concat(lines, '\n', lo, hi))
  end
  redis.call('HINCRBY', pend, sf, #lines)
  redis.call('HSET', b, 'seq', f('%d', seq), 'last_t', f('%d', now))
end
return {season, table.concat(out)}
