--[[
lb_rebuild_swap.lua: the last step of a rebuild of one board's Redis state
from MariaDB (common/tk_lb_rebuild.c), atomic.

KEYS[1] tk:lb:{B}       the board hash (replaced)
KEYS[2] tk:lb:{B}:sn    the seasons hash (replaced)
KEYS[3] tk:lb:{B}:q     the stream the workers drain
KEYS[4 + 4i .. 7 + 4i]  for the i-th season loaded (i from 0): its zset, the
        zset loaded from MariaDB (temporary), its users hash, the users hash
        loaded (temporary)
ARGV[1] the board's seq as the rebuild saw it before reading MariaDB ("" when
        the hash was absent)
ARGV[2] consumer group ("wk")
ARGV[3..11] name, comps, op, len, season, start, last_t, seq, created: the
        board hash to write
ARGV[12] k, the seasons loaded; ARGV[13 .. 12 + k] the members loaded into
        each temporary zset (0: the season is empty, its keys are removed)
ARGV[13 + k ..] pairs season, "<start_ms> <end_ms>" for the seasons hash

Returns {"OK"}, or {word} and nothing changed (the caller drops the
temporary keys):
  "not_drained"  the stream holds entries (scores not yet in MariaDB)
  "moved"        the board's seq differs from the snapshot: a write reached
                 Redis after the rebuild looked; the caller retries
  "incomplete"   a temporary zset does not hold what was loaded (expired or
                 touched): the caller retries

The seasons' pending counts tk:lb:{B}:pend and the list of seasons past
the window tk:lb:{B}:drop (lb_write.lua) describe the stream, which is
empty here: both are removed, and the keys of every season the list
still named go too (all of it is in MariaDB, and a rebuild loads only the
kept seasons). Their names are built from KEYS[1], as the season keys of
lb_write.lua are: they carry its hash tag.

Why it is exact: the caller saw the stream empty and took the snapshot
before it read MariaDB; every accepted write moves seq (HINCRBY) and adds a
stream entry, so checking both here, in the step that writes, leaves no
window in which a write could be overwritten. Numbers arrive as strings and
are written as given: nothing is formatted with tostring.
]]

local board, sn, q = KEYS[1], KEYS[2], KEYS[3]

if redis.call('XLEN', q) > 0 then
  return {'not_drained'}
end
-- HMGET, not HGET: the admin user (tk-rebuild) has HMGET in its list (docs/DESIGN.md, "Redis ACLs")
local cur = redis.call('HMGET', board, 'seq')[1]
if (cur or '') ~= ARGV[1] then
  return {'moved'}
end
local k = tonumber(ARGV[12])
for i = 0, k - 1 do
  local want = tonumber(ARGV[13 + i])
  if want > 0 and redis.call('ZCARD', KEYS[5 + 4 * i]) ~= want then
    return {'incomplete'}
  end
end

-- Before the loaded seasons are renamed in: a listed season is never one of them, and if it were, the loaded one stays.
local drop = board .. ':drop'
for _, s in ipairs(redis.call('LRANGE', drop, 0, -1)) do
  redis.call('UNLINK', board .. ':z:' .. s, board .. ':u:' .. s)
end
redis.call('UNLINK', drop, board .. ':pend')

for i = 0, k - 1 do
  local z, zt, u, ut = KEYS[4 + 4 * i], KEYS[5 + 4 * i], KEYS[6 + 4 * i], KEYS[7 + 4 * i]
  if tonumber(ARGV[13 + i]) > 0 then
    redis.call('RENAME', zt, z)
    redis.call('RENAME', ut, u)
    redis.call('PERSIST', z)
    redis.call('PERSIST', u)
  else
    redis.call('UNLINK', z, u, zt, ut)
  end
end
redis.call('UNLINK', board, sn)
redis.call('HSET', board, 'name', ARGV[3], 'comps', ARGV[4], 'op', ARGV[5], 'len', ARGV[6], 'season', ARGV[7],
  'start', ARGV[8], 'last_t', ARGV[9], 'seq', ARGV[10], 'created', ARGV[11])
for j = 13 + k, #ARGV - 1, 2 do
  redis.call('HSET', sn, ARGV[j], ARGV[j + 1])
end
local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', q, ARGV[2], '0', 'MKSTREAM')
if not ok and not string.find(tostring(err), 'BUSYGROUP') then
  return redis.error_reply(tostring(err))
end
return {'OK'}
