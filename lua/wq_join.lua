--[[
wq_join.lua: a user joins an event's waiting room (POST /v1/events/{id}/queue,
gateway/queue/gw_route_queue_join.c); idempotent, and a heartbeat.

KEYS[1] tk:{E}:ev       KEYS[2] tk:{E}:wq        KEYS[3] tk:{E}:wq:pos
KEYS[4] tk:{E}:wq:line  KEYS[5] tk:{E}:wq:seen   KEYS[6] tk:{E}:wq:live
KEYS[7] tk:{E}:wq:gone  KEYS[8] tk:{E}:wq:adm
ARGV[1] user (validated)

One slot: every key is tagged {E}. The room's listing in tk:wq:rooms (the
admitter lets a sold-out room with an empty line go, lua/wq_admit.lua) is
the caller's SADD after a "waiting" answer (gw_route_queue_join.c says why
after), because on a Redis Cluster that set is in another slot.

Time is Redis's own (TIME), never the caller's: every gateway's heartbeat,
sweep and admission is measured on one clock, so a gateway whose clock is
off can neither sweep present users nor keep absent ones (see
lua/wq_status.lua).

Refusals come first and write nothing: {"not_found"}, {"no_waiting_room"},
{"not_open"}, {"closed"}, {"sold_out"}.
Otherwise:
  {0, "admitted", admitted_ms, wr_ttl, 0, 0, 0}   passed while present: the token's inputs
  {created, "waiting", place, ahead, serving, rate_x1000, paused}
(created 1: this join made the place; the six items after it are those of
lua/wq_status.lua.)

The place is drawn by HINCRBY (one counter per room: places are unique and
in arrival order). A user who holds a place is answered it again (200) and
this join counts as a heartbeat; a user whose place was passed while absent
(gone) gets a new place at the back (201): who closed the tab may come
back, behind everyone who stayed. So does a user whose admission ran out
unused or not (its access token expired, lua/wq_status.lua "lapsed"): the
admission is dropped and the place drawn anew. `ahead` is the users of the line present
now, before this place: the lazy sweep (lua/wq_status.lua explains it)
runs first so nobody absent is counted.
]]

local ev, wq, pos, line, seen, live, gone, adm =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local user = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = redis.call('HMGET', ev, 'state', 'remaining', 'closes', 'wr', 'wr_opens', 'wr_rate')
if not e[1] then
  return {'not_found'}
end
if e[4] ~= '1' then
  return {'no_waiting_room'}
end
local opens = tonumber(e[5] or '0') or 0
local closes = tonumber(e[3] or '0') or 0
if opens > 0 and now < opens then
  return {'not_open'}
end
if e[1] == 'closed' or (closes > 0 and now >= closes) then
  return {'closed'}
end
if (tonumber(e[2] or '0') or 0) <= 0 then
  return {'sold_out'}
end

local at = redis.call('HGET', adm, user)
if at then
  local ttl = tonumber(redis.call('HGET', ev, 'wr_ttl') or '0') or 0
  if now < (math.floor(tonumber(at) / 1000) + ttl) * 1000 then
    return {0, 'admitted', tonumber(at), ttl, 0, 0, 0}
  end
  redis.call('HDEL', adm, user)
end

--#include wq_cut.lua
--#include wq_sweep.lua

local created = 0
local place = tonumber(redis.call('ZSCORE', line, user) or '0') or 0
if place == 0 then
  place = redis.call('HINCRBY', wq, 'n', 1)
  redis.call('HSET', pos, user, place)
  redis.call('HDEL', gone, user)
  redis.call('ZADD', line, place, user)
  created = 1
end
redis.call('ZADD', seen, now, user)
redis.call('ZADD', live, place, user)

local w = redis.call('HMGET', wq, 'serving', 'meas', 'paused')
local rate = tonumber(w[2] or '0') or 0
if rate <= 0 then
  rate = (tonumber(e[6] or '0') or 0) * 1000
end
local ahead = redis.call('ZCOUNT', live, '-inf', '(' .. place)
-- paused: the room's or the event's (neither admits, lua/wq_admit.lua): eta_s null
return {created, 'waiting', place, ahead, tonumber(w[1] or '0') or 0, rate, (w[3] == '1' or e[1] == 'paused') and 1 or 0}
