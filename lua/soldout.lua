--[[
soldout.lua: what claim.lua's answer to some claims of one event depends
on, read in one atomic step; it writes nothing (gateway/claims/gw_soldout.h
decides from it, and says why that is exact).

KEYS[1] tk:{E}:ev      event hash
KEYS[2] tk:{E}:claims  user id -> claim record
ARGV[1..n] the users of the claims being checked, in arrival order

Returns {state, remaining, maxpu, opens, closes, wr, first}: the event
hash's fields as claim.lua reads them (nil when absent: no such event, or
no waiting room), and first = the position (1-based) of the first user of
ARGV who holds a claim record, 0 when none does. One reply of 7 items
whatever n: the gateway parses no element per claim.
]]

local e = redis.call('HMGET', KEYS[1], 'state', 'remaining', 'maxpu', 'opens', 'closes', 'wr')
local first = 0
local step = 500 -- unpack() is limited by the Lua stack: work in slices
for i = 1, #ARGV, step do
  local j = math.min(i + step - 1, #ARGV)
  local recs = redis.call('HMGET', KEYS[2], unpack(ARGV, i, j))
  for k = 1, j - i + 1 do
    if recs[k] then
      first = i + k - 1
      break
    end
  end
  if first > 0 then
    break
  end
end
e[7] = first
return e
