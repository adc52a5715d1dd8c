--[[
admin_cancel.lua: release a user's claim, after the database has recorded
it as cancelled (gateway/admin/gw_admin.c explains the order).

KEYS[1] tk:{E}:claims  user id -> "<ticket> <qty> <created_ms> <status>"
KEYS[2] tk:{E}:ev      event hash
ARGV[1] user id

A record whose status is 'p' (pending) or 'c' (confirmed) becomes 'x' and
its quantity goes back to remaining; 'x' is left as it is (a retry), and so
is 'r' (a rejected claim never held a unit). Returns the record as it now
stands, or false (nil) when the user has no record.

Why the units come back exactly once, whoever marks the record first: the
step that turns a record into 'x' returns its units, and no other step does
(the same rule in confirm.lua, which turns a 'p' record into 'x' when a
worker found the claim's row already cancelled). Each script reads the
letter and writes 'x' in one atomic step and nothing turns an 'x' back, so
exactly one step sees the record leave p/c. An 'x' found here therefore
means the units are back already: by an earlier run of this script (a
retry after a 503) or by the worker's confirm that overtook this step after
the cancel's commit (issue 10, hole 2). Every interleaving is spelled out
at the top of confirm.lua.
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
    redis.call('HINCRBY', ev, 'ver', 1)
  end
end
return rec
