--[[
presence.lua: record the heartbeats of one event from one loop turn of one
gateway thread (gateway/watch/gw_presence.h), in one call.

KEYS[1]              tk:{E}:pr              users present on the event: zset user -> last-seen ms
KEYS[2], KEYS[3] ... per heartbeat, in pairs:
                     tk:{E}:pp:<page>:<tab> zset user -> last-seen ms on that page and tab
                     tk:{E}:pu:<user>       hash "<page>:<tab>" -> last-seen ms (the user's pages)
ARGV[1]              now, ms (the gateway's clock when it sends; the trim's reference)
ARGV[2], ARGV[3] ... per heartbeat, in threes: user, "<page>:<tab>", its stamp (ms)

Present means a heartbeat younger than 30 s at the time of the query: a
reader filters by score (> now - 30000), so nothing here decides presence.
This only keeps the sets small: every zset touched is trimmed of the
entries that are no longer present (ZREMRANGEBYSCORE up to now - 30000,
each entry removed once, so the cost is that of the heartbeats that made
them) and gets a PEXPIRE a little over 30 s, so a page nobody touches again
disappears by itself; a user's hash gets the same expiry. No KEYS or SCAN:
every key is named by the caller.

Returns the number of heartbeats recorded.
]]

local TTL_MS = 30000
local now = tonumber(ARGV[1])
local cut = now - TTL_MS
local keep = TTL_MS + 1000
local ev = KEYS[1]
local n = 0
local touched = {}
for i = 2, #ARGV, 3 do
  local user, where, at = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local k = 2 + 2 * n
  local pp, pu = KEYS[k], KEYS[k + 1]
  -- GT: a stamp older than one already recorded (another gateway's) never moves it back
  redis.call('ZADD', ev, 'GT', at, user)
  redis.call('ZADD', pp, 'GT', at, user)
  if tonumber(redis.call('HGET', pu, where) or '0') < tonumber(at) then
    redis.call('HSET', pu, where, at)
  end
  redis.call('PEXPIRE', pu, keep)
  touched[pp] = true
  n = n + 1
end
touched[ev] = true
for key in pairs(touched) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cut)
  redis.call('PEXPIRE', key, keep)
end
return n
