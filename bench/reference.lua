--[[
reference.lua: the REFERENCE DESIGN of the benchmark, not used by the
product. A one-claim-per-call claim script written the common way (as in
the write-ups the brief cites: a queue number from INCR, a per-user
distributed lock with SET NX PX, a per-user check, stock read with GET and
taken with DECRBY, the claim recorded, queued with XADD, lock released).
Nine commands for a granted claim. scripts/bench.sh runs it with
redis-benchmark exactly like the project's lua/claim.lua, so the two
ceilings compare the scripts and nothing else.

KEYS[1] ticket counter (string)     KEYS[2] stock (string)
KEYS[3] users who hold a claim (set) KEYS[4] claim records (hash)
KEYS[5] stream for the database
ARGV[1] now ms, ARGV[2] user id, ARGV[3] quantity
The lock key is KEYS[1] .. ':lock:' .. user (same hash tag).
Returns {code, ticket}: "N" granted, "E" already holds, "sold_out", "busy".
]]

local ticket_key, stock_key, users, claims, q = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, user, qty = ARGV[1], ARGV[2], tonumber(ARGV[3])
local lock = ticket_key .. ':lock:' .. user

local ticket = redis.call('INCR', ticket_key)
if not redis.call('SET', lock, ticket, 'NX', 'PX', 3000) then
  return {'busy', ticket}
end
if redis.call('SISMEMBER', users, user) == 1 then
  redis.call('DEL', lock)
  return {'E', ticket}
end
local stock = tonumber(redis.call('GET', stock_key) or '0')
if stock < qty then
  redis.call('DEL', lock)
  return {'sold_out', ticket}
end
redis.call('DECRBY', stock_key, qty)
redis.call('SADD', users, user)
redis.call('HSET', claims, user, ticket .. ' ' .. qty .. ' ' .. now .. ' p')
redis.call('XADD', q, '*', 'u', user, 't', ticket, 'n', qty, 'c', now)
redis.call('DEL', lock)
return {'N', ticket}
