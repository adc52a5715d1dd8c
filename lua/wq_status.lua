--[[
wq_status.lua: where users stand in an event's waiting room (GET
/v1/events/{id}/queue/{user}, gateway/queue/gw_route_queue_status.c, and the
held polls of gateway/queue/gw_queue_hold.c, several users in one call); a
heartbeat of each user still in the line.

KEYS[1] tk:{E}:ev       KEYS[2] tk:{E}:wq        KEYS[3] tk:{E}:wq:pos
KEYS[4] tk:{E}:wq:line  KEYS[5] tk:{E}:wq:seen   KEYS[6] tk:{E}:wq:live
KEYS[7] tk:{E}:wq:gone  KEYS[8] tk:{E}:wq:adm
ARGV[1] "1": each call is a heartbeat, "0": a read only
ARGV[2], ARGV[3] ...    users (validated)

Returns {"not_found"} or {"no_waiting_room"} for the event, else six items
per user, in the order given:
  "waiting", place, ahead, serving, rate_x1000, paused
  "admitted", admitted_ms, wr_ttl, 0, 0, 0
  "expired", gone_ms, 0, 0, 0, 0     passed while absent: 410
  "lapsed", until_ms, 0, 0, 0, 0     admitted, but the admission (its access
                                     token) ran out: 410, and a join gives
                                     a new place (lua/wq_join.lua)
  "none", 0, 0, 0, 0, 0              never joined: 404

One clock. `now` is Redis's (TIME), for the heartbeats written here, the
sweep and the admission's end, as in every room script: with the callers'
clocks, a gateway running ahead would sweep users another gateway had just
seen, and one running behind would keep absent users in `ahead`.

Presence and the sweep. A user is present while their last waiting-room
heartbeat (seen) is younger than exactly 30 s, the rule of
gateway/watch/gw_presence.h. `ahead` is ZCOUNT of live below one's place,
so live must hold exactly the present users of the line when it is
counted: every call first sweeps, moving the users whose heartbeat is 30 s
old or more out of live and seen (ZRANGEBYSCORE seen -inf now-30000, at
most 500 a call). Each absent user is swept once (it leaves seen), so the
cost is that of the heartbeats that made the entries; a user who comes
back is put back by their heartbeat. `ahead` is exact unless more than 500
users fell silent since the previous call of any room script (the admitter
sweeps every 50 ms: 10,000 a second). An absent user keeps their place
until the admitter passes it (lua/wq_admit.lua); back in time, they keep it.
rate_x1000 is the release rate measured over the last 30 s (wq meas, per
s x 1000), or the configured one (wr_rate x 1000) while there is none.
]]

local ev, wq, pos, line, seen, live, gone, adm =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local beat = ARGV[1] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = redis.call('HMGET', ev, 'state', 'wr', 'wr_rate', 'wr_ttl')
if not e[1] then
  return {'not_found'}
end
if e[2] ~= '1' then
  return {'no_waiting_room'}
end

--#include wq_cut.lua
--#include wq_sweep.lua

local w = redis.call('HMGET', wq, 'serving', 'meas', 'paused')
local serving = tonumber(w[1] or '0') or 0
local rate = tonumber(w[2] or '0') or 0
if rate <= 0 then
  rate = (tonumber(e[3] or '0') or 0) * 1000
end
local paused = (w[3] == '1' or e[1] == 'paused') and 1 or 0 -- the event paused admits nobody either (lua/wq_admit.lua)
local ttl = tonumber(e[4] or '0') or 0

local out = {}
for i = 2, #ARGV do
  local user = ARGV[i]
  local place = redis.call('ZSCORE', line, user)
  if place then
    if beat then
      redis.call('ZADD', seen, now, user)
      redis.call('ZADD', live, place, user)
    end
    local ahead = redis.call('ZCOUNT', live, '-inf', '(' .. place)
    out[#out + 1] = 'waiting'
    out[#out + 1] = tonumber(place)
    out[#out + 1] = ahead
    out[#out + 1] = serving
    out[#out + 1] = rate
    out[#out + 1] = paused
  else
    local at = redis.call('HGET', adm, user)
    local kind, ms = 'admitted', at
    -- the token's exp is whole seconds (gw_access.h): the admission ends with it
    local ends = at and (math.floor(tonumber(at) / 1000) + ttl) * 1000
    if at and now >= ends then
      kind, ms = 'lapsed', ends
    elseif not at then
      kind, ms = 'expired', redis.call('HGET', gone, user)
      if not ms then
        kind, ms = 'none', '0'
      end
    end
    out[#out + 1] = kind
    out[#out + 1] = tonumber(ms)
    out[#out + 1] = kind == 'admitted' and ttl or 0
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = 0
  end
end
return out
