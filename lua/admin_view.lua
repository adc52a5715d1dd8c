--[[
admin_view.lua: one consistent snapshot of an event's books in Redis, for
GET /v1/admin/events/{E}.

KEYS[1] tk:{E}:ev   event hash
KEYS[2] tk:{E}:q    stream of claims not yet written to the database
ARGV[1..] the hash fields to read (GW_EVENT_FIELDS, in that order)

Returns { {values of the fields, nil when absent}, XLEN of the stream,
id of the oldest stream entry or "" }.
]]

local ev, q = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', ev, unpack(ARGV))
local pending, oldest = 0, ''
if redis.call('EXISTS', q) == 1 then
  pending = redis.call('XLEN', q)
  local first = redis.call('XRANGE', q, '-', '+', 'COUNT', 1)
  if first[1] then
    oldest = first[1][1]
  end
end
return {fields, pending, oldest}
