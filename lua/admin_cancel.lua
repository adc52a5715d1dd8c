--[[
admin_cancel.lua: release a user's claim, after the database has recorded
it as cancelled (gateway/gw_admin.c explains the order).

KEYS[1] tk:{E}:claims  user id -> "<ticket> <qty> <created_ms> <status>"
KEYS[2] tk:{E}:ev      event hash
ARGV[1] user id

A record whose status is 'p' (pending) or 'c' (confirmed) becomes 'x' and
its quantity goes back to remaining; 'x' is left as it is (a retry), and so
is 'r' (a rejected claim never held a unit). Returns the record as it now
stands, or false (nil) when the user has no record.
]]

local claims, ev, user = KEYS[1], KEYS[2], ARGV[1]
local rec = redis.call('HGET', claims, user)
if not rec then
  return false
end
local letter = string.sub(rec, -1)
if letter == 'p' or letter == 'c' then
  local qty = tonumber(string.match(rec, '^%d+ (%d+) '))
  if not qty then
    return redis.error_reply('ERR admin_cancel: malformed claim record')
  end
  rec = string.sub(rec, 1, -2) .. 'x'
  redis.call('HSET', claims, user, rec)
  if redis.call('EXISTS', ev) == 1 then
    redis.call('HINCRBY', ev, 'remaining', qty)
  end
end
return rec
