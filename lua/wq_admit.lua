--[[
wq_admit.lua: one step of the admitter (gateway/queue/gw_admitter.h): admit
up to `budget` present users of one room, in place order.

KEYS[1] tk:{E}:ev       KEYS[2] tk:{E}:wq        KEYS[3] tk:{E}:wq:pos
KEYS[4] tk:{E}:wq:line  KEYS[5] tk:{E}:wq:seen   KEYS[6] tk:{E}:wq:live
KEYS[7] tk:{E}:wq:gone  KEYS[8] tk:{E}:wq:adm    KEYS[9] tk:{E}:wq:rel
KEYS[10] tk:{E}:wq:fence   the newest lease epoch a step carried here
ARGV[1] budget (>= 0)   ARGV[2] scan max (places passed, at most)
ARGV[3] the lease epoch the sender holds (lua/wq_lease.lua)

`now` is Redis's clock (TIME), the one the heartbeats were written with
(lua/wq_status.lua), so the 30 s rule and the admitted-at stamps do not
depend on the admitting gateway's clock.

Returns {admitted, abandoned, idle, present, wr_rate, done}: the users admitted
and the places abandoned by this step; idle 1 when the budget could not be
spent (the line ran out, the room or the event is paused, or the sale
has not opened:
the caller then drops its carry, so no burst is stored up); the users of
the line present now; the configured rate, for the next budget; done 1
when the event is sold out and nobody waits (the room may leave
tk:wq:rooms), else 0.
{-1} when the event is gone, its room is off or the event is closed (stored
or past `closes`): the room may leave tk:wq:rooms and nobody more is
admitted; {-2, fence} when the step is
stale: its epoch is older than the room's fence, one a step has already
carried here (the lease went to another gateway since it was sent, or the
epoch counter was lost and drawn again from below: lua/wq_lease.lua, "A
lost counter"), and it did nothing.

Why admission is in order. The line is a sorted set scored by place, and
places come from one HINCRBY (lua/wq_join.lua), so walking it from the
lowest score is walking arrivals in order. The walk takes the lowest place
first and never skips a present user: it stops, with the rest untouched,
when the budget is spent. An absent user (no heartbeat for 30 s, the rule
of gateway/watch/gw_presence.h) is passed over and marked gone (410
expired), costing no budget: abandoned places never slow the release.

Why exactly once. Redis runs a script alone: a user's admission (HSET adm)
and their leaving the line (ZREM line, seen, live) are one step, so a user
can be admitted only while in the line and only once, whoever runs the
step and however often (two admitters for a moment after a takeover would
still admit nobody twice; the lease, gw_admitter.h, keeps even that from
doubling the rate). `serving`, the highest place passed, only grows.

Why steady. The step admits at most `budget` users, and the admitter sends
one step per room every 50 ms with the budget its rate earned since the
previous one (gateway/queue/gw_admitter.h: the fraction carried, at most
100 ms worth after a stall, unused capacity dropped via `idle`), so the
users of a second are spread over twenty steps instead of one burst.

Why never more than the rate in any second (review rev6). A budget earned
over up to 100 ms before the step is a bucket 0.1 s deep: a step late
after a stall spent 100 ms of rate at the start of a second that then
held a full second of steps besides (up to 1.1 x rate + 1). So the room
keeps the last second's admissions (wq field win: "<ms>:<n>" per step
that admitted, Redis's clock; at most one entry per step of the last
1000 ms) and a step spends at most wr_rate minus their sum. For any
window [T, T + 1 s), its last step s counted every admission of
(s - 1 s, s], which holds the window's earlier ones: the window holds at
most wr_rate. The budget cut is lost, not carried (the rate errs low
under stalls, never high), and the bound holds across admitters too (a
late step of a former holder, below).
Passing absent places costs no budget, only scan (ARGV[2] bounds the
places one step may pass, so a long run of abandoned places costs a few
steps, never one long script).

Why a stale step admits nobody. The lease (lua/wq_lease.lua) decides who
sends steps, but a step can arrive late: its sender froze between its
lease check and the send, or its link to Redis stalled with the step on
the wire, and meanwhile the lease lapsed and another gateway took it. Each
takeover draws a new, larger epoch; a step carries its sender's, and the
room's fence (KEYS[10], apart from the room's hash, which the admin routes
show) keeps the largest seen: a step below it is refused before
it touches anything, a step above it raises it. So once the successor has
run one step in a room, nothing its predecessors sent can admit there. (A
late step that arrives before the successor's first one in that room is
still run: it was sent while its sender held the lease and its budget is
at most two steps' worth, gateway/queue/gw_admitter.h.)

Which rooms stay listed. tk:wq:rooms is the admitter's work list, so a
room with nothing left to do leaves it: the event gone or its room off,
the event closed (admission stops there: a token for a closed event claims
nothing), or the event sold out with an empty line. This step says so
({-1}, or done 1); it does not SREM, because on a Redis Cluster tk:wq:rooms
is in another slot than the room's keys (issue 15). The admitter SREMs,
then runs one more step with budget 0 (a re-check) and SADDs the room
again unless that step says finished too (gateway/queue/gw_admitter.c,
unlist). Every adder (a join that answered "waiting", a create, a state
change to open or paused, a settings update, a rebuild) SADDs after its
own script has run: if that SADD comes after the SREM the room is listed;
if before, the adder's script ran before the SREM, hence before the
re-check, which then sees the work and lists the room again. So a room
re-opened or re-joined at the moment it is dropped is not lost. An open
room with an empty line stays listed (its next joiner must not wait for a
listing).

Why a dead admitter is replaced. Nothing here belongs to an admitter: all
state is in the room's keys, so whichever gateway holds the lease
(lua/wq_lease.lua, 3 s expiry, taken within a second of expiring) runs the
next step from where the last one stopped.

An outage (review rev6). Presence is Redis's record of heartbeats, and
while Redis is away (a restart loading its AOF, a freeze, a cut network)
or every gateway is down, no heartbeat can be recorded however often the
users poll. Counting that time against them would pass the whole line as
abandoned at the first step after it, before anyone's next poll could
land, and the order of the line would be lost. So the steps stamp wq
step (Redis's clock, at most once a second); a step that finds the stamp
more than GAP_MS (10 s) old knows nobody could step (nor, as a rule,
heartbeat) meanwhile, and grants the room a grace: for 30 s from now, a heartbeat
counts as present if it was present at that previous step (wq grace
"<cut>:<until>", cut = previous step - 30 s, the older cut kept when a
second outage falls inside a grace). The sweeps of wq_status and wq_join
read the same fields, and before the first step after an outage they
apply the same rule from wq step alone. Shorter gaps (an admitter
replaced within the lease's 3 to 4 s) change nothing. The price: a user
who left just before the outage may be admitted during the grace, and
that admission lapses unused.

The measured rate. At most once a second the step pushes "<now> <admitted
so far>" on rel (newest first, 32 kept) and sets wq meas to the admissions
per second (x 1000) between now and the oldest entry of the last 30 s, the
`eta_s` of docs/API.md. Before a second has passed there is no meas and the
readers use the configured rate.
]]

local ev, wq, line, seen, live, gone, adm, rel, fencekey =
  KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local budget, scanmax, epoch = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]) or 0
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nows = string.format('%d', now)
local cut = now - 30000 -- the measured rate's window
local GAP_MS = 10000
local e = redis.call('HMGET', ev, 'state', 'wr', 'wr_rate', 'opens', 'closes', 'remaining')
if not e[1] or e[2] ~= '1' then
  return {-1}
end
local rate = tonumber(e[3] or '0') or 0
local fence = tonumber(redis.call('GET', fencekey) or '0') or 0
if epoch < fence then
  return {-2, fence}
elseif epoch > fence then
  redis.call('SET', fencekey, epoch)
end

-- an outage nobody could heartbeat through is not held against the heartbeats (above, "An outage")
local g = redis.call('HMGET', wq, 'step', 'grace')
local step = tonumber(g[1] or '0') or 0
local gcut, guntil = string.match(g[2] or '', '^(%-?%d+):(%d+)$')
gcut, guntil = tonumber(gcut), tonumber(guntil) or 0
if step > 0 and now - step > GAP_MS then
  local c = step - 30000
  if guntil > now and gcut < c then
    c = gcut
  end
  gcut, guntil = c, now + 30000
  redis.call('HSET', wq, 'grace', string.format('%d:%d', gcut, guntil))
end
if now - step >= 1000 or now < step then
  -- once a second is enough for a 10 s gap, and spares the AOF 19 writes of 20; and at once when Redis's clock
  -- stepped back: a step from the future would hide the gap of an outage until the clock caught up with it
  redis.call('HSET', wq, 'step', nows)
end
local pcut = now - 30000 -- present: a heartbeat after pcut
if guntil > now and gcut < pcut then
  pcut = gcut
end
local closes = tonumber(e[5] or '0') or 0
if e[1] == 'closed' or (closes > 0 and now >= closes) then
  return {-1}
end

-- the sweep (lua/wq_status.lua): live holds the present users of the line
local old = redis.call('ZRANGEBYSCORE', seen, '-inf', pcut, 'LIMIT', 0, 500)
if #old > 0 then
  redis.call('ZREM', live, unpack(old))
  redis.call('ZREM', seen, unpack(old))
end

local admitted, abandoned, idle = 0, 0, 1
local opens = tonumber(e[4] or '0') or 0
-- the last second's admissions (wq win, "<ms>:<n>" per step that admitted): a step spends at most what they left of the rate
local win, recent = {}, 0
for ms, n in string.gmatch(redis.call('HGET', wq, 'win') or '', '(%d+):(%d+)') do
  local t = tonumber(ms)
  if t > now - 1000 and t <= now then -- one ahead of now (Redis's clock set back) is dropped: it could stall the room
    win[#win + 1] = ms .. ':' .. n
    recent = recent + tonumber(n)
  end
end
if budget > rate - recent then
  budget = math.max(rate - recent, 0)
end
-- the event paused (its claims 403 paused) admits nobody either: an admission would only run its ttl down
if redis.call('HGET', wq, 'paused') ~= '1' and e[1] ~= 'paused' and not (opens > 0 and now < opens) then
  local serving, scanned = nil, 0
  while budget > 0 and scanned < scanmax do
    local batch = redis.call('ZRANGE', line, 0, math.min(99, scanmax - scanned - 1), 'WITHSCORES')
    if #batch == 0 then
      break
    end
    for i = 1, #batch, 2 do
      local user, place = batch[i], batch[i + 1]
      local last = tonumber(redis.call('ZSCORE', seen, user) or '0') or 0
      if last > pcut then
        redis.call('HSET', adm, user, nows)
        admitted = admitted + 1
        budget = budget - 1
      else
        redis.call('HSET', gone, user, nows)
        abandoned = abandoned + 1
      end
      redis.call('ZREM', line, user)
      redis.call('ZREM', seen, user)
      redis.call('ZREM', live, user)
      serving = place
      scanned = scanned + 1
      if budget <= 0 then
        break
      end
    end
  end
  -- idle: budget left over because the line ran out (not because the scan bound stopped it)
  idle = (budget > 0 and scanned < scanmax) and 1 or 0
  if serving then
    redis.call('HSET', wq, 'serving', serving)
  end
  if admitted > 0 then
    redis.call('HINCRBY', wq, 'admitted', admitted)
    win[#win + 1] = nows .. ':' .. admitted
    redis.call('HSET', wq, 'win', table.concat(win, ' '))
  end
  if abandoned > 0 then
    redis.call('HINCRBY', wq, 'abandoned', abandoned)
  end
end

local total = tonumber(redis.call('HGET', wq, 'admitted') or '0') or 0
local newest = redis.call('LINDEX', rel, 0)
local newest_ms = newest and tonumber(string.match(newest, '^(%d+)')) or 0
if now - newest_ms >= 1000 then
  redis.call('LPUSH', rel, nows .. ' ' .. total)
  redis.call('LTRIM', rel, 0, 31)
  local from_ms, from_n = nil, nil
  for _, s in ipairs(redis.call('LRANGE', rel, 0, -1)) do
    local ms, n = string.match(s, '^(%d+) (%d+)$')
    ms, n = tonumber(ms), tonumber(n)
    if ms and ms >= cut then
      from_ms, from_n = ms, n
    end
  end
  if from_ms and now > from_ms then
    redis.call('HSET', wq, 'meas', math.floor((total - from_n) * 1000 * 1000 / (now - from_ms)))
  end
end
-- sold out, nobody waiting: the admitter may drop the room (a join lists it again)
local done = ((tonumber(e[6] or '0') or 0) <= 0 and redis.call('ZCARD', line) == 0) and 1 or 0
return {admitted, abandoned, idle, redis.call('ZCOUNT', seen, '(' .. pcut, '+inf'), rate, done}
