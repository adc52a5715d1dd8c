--[[
admin_queue_set.lua: set an event's waiting room to what MariaDB committed
at a version (POST /v1/admin/events/{E}/queue, and its replays).

KEYS[1] tk:{E}:ev     event hash
KEYS[2] tk:{E}:wq     the room's hash (its pause)
ARGV[1] event id (unused since tk:wq:rooms left the script; kept so the
        arguments keep their numbers)
ARGV[2] release_per_s  ARGV[3] access_ttl_s  ARGV[4] the room's opens ms
        (0 = at once)  ARGV[5] paused ("1"/"0")
ARGV[6] version: events.wr_ver of the change

The room's whole settings are sent, not only what the request changed, so
one step brings Redis to MariaDB whatever it held (as admin_state.lua
sends the state, never a delta).

Returns "OK" (the settings written; the event's version moved when they
differ from what Redis held, so its watchers see the change and a replay
of the same step wakes nobody); "superseded" when Redis already holds a newer
version's settings (nothing changes); "not_found" when the event hash does
not exist (it is never created here).

Why the stores agree: MariaDB bumps wr_ver under the events row lock, so
versions follow the order of the committed changes; each change's step runs
after its commit and sends its own version. Whatever order two steps arrive
in, the newer version's settings are the ones left here, and they are
MariaDB's.

tk:wq:rooms (another slot on a Redis Cluster) is listed by the caller
(gw_route_admin_queue_update.c): SADD before this script and again after
it answered (lua/admin_create.lua and docs/DESIGN.md, "Registries apart
from the scripts", say why both).
]]

local ev, wq = KEYS[1], KEYS[2]
if redis.call('EXISTS', ev) == 0 then
  return 'not_found'
end
local cur = redis.call('HMGET', ev, 'wr', 'wr_rate', 'wr_ttl', 'wr_opens', 'wr_ver')
if tonumber(ARGV[6]) < tonumber(cur[5] or '0') then
  return 'superseded'
end
local want = {'1', ARGV[2], ARGV[3], ARGV[4], ARGV[6]}
local changed = (redis.call('HGET', wq, 'paused') or '0') ~= ARGV[5]
for i = 1, 5 do
  changed = changed or (cur[i] or '') ~= want[i]
end
redis.call('HSET', ev, 'wr', '1', 'wr_rate', ARGV[2], 'wr_ttl', ARGV[3], 'wr_opens', ARGV[4], 'wr_ver', ARGV[6])
redis.call('HSET', wq, 'paused', ARGV[5])
if changed then
  redis.call('HINCRBY', ev, 'ver', 1)
end
return 'OK'
