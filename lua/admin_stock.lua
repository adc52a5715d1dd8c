--[[
admin_stock.lua: move an event's stock by a delta, atomically with claims.

KEYS[1] tk:{E}:ev   event hash
ARGV[1] delta, a non-zero integer (the gateway validated |delta|)

Returns "OK"; "not_found" when the event hash does not exist; or
"below_granted" when delta < 0 and remaining + delta < 0, i.e. the new
total would be below the units already granted (nothing changes).
Raising stock runs after the database commit, lowering it before (see
gateway/gw_admin.c), so the database total never falls below this total.
]]

local ev = KEYS[1]
local delta = tonumber(ARGV[1])
local e = redis.call('HMGET', ev, 'total', 'remaining')
if not e[1] then
  return 'not_found'
end
local total, remaining = tonumber(e[1]), tonumber(e[2])
if remaining + delta < 0 then
  return 'below_granted'
end
redis.call('HSET', ev, 'total', total + delta, 'remaining', remaining + delta)
return 'OK'
