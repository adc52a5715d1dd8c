--[[
admin_stock.lua: make an event's total in Redis the total MariaDB committed
at a version, atomically with the claims.

KEYS[1] tk:{E}:ev   event hash (total, remaining, stock_ver)
ARGV[1] version: event_stock.stock_ver of the change (a non-negative integer)
ARGV[2] total: event_stock.total at that version (0..99999999999999, decimal)

Returns "OK" when applied; "superseded" when Redis already applied a newer
version (nothing changes: that change holds this one); "not_found" when the
event hash does not exist; "below_granted" when Redis has granted more than
the new total (remaining + delta < 0; nothing changes).

Why applying it is exact (gateway/admin/gw_route_admin_stock.c has the whole
argument). The gateway sends the value MariaDB holds, never the request's
delta: delta is taken here, inside the atomic step, against Redis's own
total, and added to total and remaining. Claims decrement remaining in
other calls of claim.lua, and a cancel increments it; none of them touches
total, so total - remaining (the units granted) is kept whatever ran
between, and a restock can never overwrite a grant. The version makes the
step idempotent and ordered: MariaDB bumps stock_ver under the event's row
lock, so versions follow the order of the committed changes; applying the
same version twice finds delta = 0, and a late step of an older change is
"superseded". An equal version is applied again on purpose: a cut's step
runs before its commit, and when that commit failed MariaDB gives its next
change the same version — whose total must then win here.
Integers only: the totals are strings from MariaDB, delta (|delta| < 1e14)
is exact in a Lua number and passed to HINCRBY through string.format('%d').
]]

local ev = KEYS[1]
local ver = tonumber(ARGV[1])
local e = redis.call('HMGET', ev, 'total', 'remaining', 'stock_ver')
if not e[1] then
  return 'not_found'
end
if ver < tonumber(e[3] or '0') then
  return 'superseded'
end
local delta = tonumber(ARGV[2]) - tonumber(e[1])
if tonumber(e[2]) + delta < 0 then
  return 'below_granted'
end
redis.call('HSET', ev, 'total', ARGV[2], 'stock_ver', ARGV[1])
redis.call('HINCRBY', ev, 'ver', 1)
if delta ~= 0 then
  redis.call('HINCRBY', ev, 'remaining', string.format('%d', delta))
end
return 'OK'
