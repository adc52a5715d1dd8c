--[[
lb_create.lua: load one board definition into Redis (a new board, or the
finish of a create whose Redis step failed after the database commit).
docs/CONTRACTS.md, "Leaderboards and the priority presale".

KEYS[1] tk:lb:{B}     board hash
KEYS[2] tk:lb:{B}:sn  seasons hash: season -> "<start_ms> <end_ms>"
KEYS[3] tk:lb:{B}:q   stream the workers drain (group ARGV[7])
ARGV[1] board id   ARGV[2] name   ARGV[3] components ("1"/"2")
ARGV[4] operator ("best"/"set"/"incr")   ARGV[5] season length s ("0": by hand)
ARGV[6] created ms (also the start of season 1)   ARGV[7] consumer group ("wk")
Optional, for a load of a board that already lived (a rebuild from MariaDB);
absent = a new board:
ARGV[8] season   ARGV[9] its start ms   ARGV[10] seq   ARGV[11] last_t

Every argument is a decimal string written by the caller; nothing here
formats a number, so nothing can be printed as "1e+14".

Returns status "OK" when loaded, or the string "exists" when the board hash
is already there (then nothing changes: a board is never overwritten here).
The group is created with MKSTREAM; BUSYGROUP (the stream and group survive
from an earlier life of the board) is not an error.

tk:boards (another slot on a Redis Cluster) is not written here: the caller
(gw_route_board_create.c, tk_lb_rebuild.c) SADDs the id BEFORE this script,
as an event's create does with tk:events (lua/admin_create.lua): a crash
between the two leaves a listed board without a hash, which the workers
(an empty stream and its group), the listing and the rebuild check
tolerate; the other order could leave a board nobody drains.
]]

local b, sn, q = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', b) == 1 then
  return 'exists'
end
local season, start = ARGV[8] or '1', ARGV[9] or ARGV[6]
redis.call('HSET', b,
  'name', ARGV[2], 'comps', ARGV[3], 'op', ARGV[4], 'len', ARGV[5],
  'season', season, 'start', start, 'last_t', ARGV[11] or '0',
  'seq', ARGV[10] or '0', 'created', ARGV[6])
redis.call('HSET', sn, season, start .. ' 0')
local r = redis.pcall('XGROUP', 'CREATE', q, ARGV[7], '0', 'MKSTREAM')
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
  return redis.error_reply(r.err)
end
return redis.status_reply('OK')
