--[[
admin_view.lua: one consistent snapshot of an event's books in Redis, for
GET /v1/admin/events/{E}.

KEYS[1] tk:{E}:ev   event hash
KEYS[2] tk:{E}:q    stream of claims not yet written to the database
ARGV[1..] the hash fields to read (GW_EVENT_FIELDS, in that order)

Returns { {values of the fields, nil when absent}, pending, id of the
oldest stream entry or "" }.

pending counts claims, not entries: an entry of lua/claim.lua holds every
claim of one call (a packed entry, field m) or one claim (the shapes before
it). 0 when the stream is empty; else seq - the oldest entry's ticket + 1,
the tickets drawn since the oldest claim not yet released (tickets rise
along the stream: lua/confirm.lua), at least XLEN. Like XLEN before the
packing it is an upper bound while several workers drain (acked entries
wait behind an older pending one), and exact at 0.
]]

local ev, q = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', ev, unpack(ARGV))
local pending, oldest = 0, ''
if redis.call('EXISTS', q) == 1 then
  pending = redis.call('XLEN', q)
  local first = redis.call('XRANGE', q, '-', '+', 'COUNT', 1)
  if first[1] then
    oldest = first[1][1]
    local f, t = first[1][2], nil
    for k = 1, #f, 2 do
      if f[k] == 'm' then
        t = tonumber(string.match(f[k + 1], '^%S+ (%d+)'))
      elseif f[k] == 'r' or f[k] == 't' then
        t = tonumber(string.match(f[k + 1], '^%d+'))
      end
    end
    local seq = tonumber(redis.call('HGET', ev, 'seq'))
    if t and seq and seq - t + 1 > pending then
      pending = seq - t + 1
    end
  end
end
return {fields, pending, oldest}
