--[[
admin_create.lua: load one event definition into Redis (a new event, or the
finish of a create whose Redis step failed after the database commit).

KEYS[1] tk:{E}:ev   event hash
KEYS[2] tk:{E}:q    stream the workers drain
KEYS[3] tk:{E}:wq   the waiting room's hash (its pause)
ARGV[1] event id    ARGV[2] name        ARGV[3] state (open/paused/closed)
ARGV[4] total       ARGV[5] remaining   ARGV[6] max per user
ARGV[7] opens ms    ARGV[8] closes ms   (0 = none)
ARGV[9] seq         ARGV[10] created ms ARGV[11] consumer group ("wk")
ARGV[12] stock_ver  ARGV[13] state_ver  the admin versions MariaDB holds
        (0 for a new event; lua/admin_stock.lua, admin_state.lua)
ARGV[14] waiting room on ("1") or off ("0"); when on:
ARGV[15] release_per_s  ARGV[16] access_ttl_s  ARGV[17] its opens ms (0 =
        at once)  ARGV[18] paused ("1"/"0")  ARGV[19] wr_ver (sql/006)
        An event without a room gets none of these fields (absent = off).
ARGV[20] the priority presale's board id ("" = none); when set:
ARGV[21] its top  ARGV[22] its opens ms. An event without a presale gets
        none of the pr_* fields (absent = none); the snapshot's fields
        pr_snap and pr_n come later, with tk:{E}:prio (lua/prio_copy.lua).

Returns status "OK" when loaded, or the string "exists" when the event hash
is already there (then nothing changes: an event is never overwritten here).
The group is created with MKSTREAM; BUSYGROUP (the stream and group survive
from an earlier life of the event) is not an error.

One slot (issue 15). Every key here carries the tag {E}, so a Redis
Cluster runs the call on one master. The registries tk:events and
tk:wq:rooms are in other slots, so the caller (gw_admin_redis_load) writes
them with its own SADDs: tk:events BEFORE this script, tk:wq:rooms (with a
room) AFTER it. Why that order is safe:
- A crash after the SADD and before this script leaves an id listed whose
  event hash does not exist. Every reader tolerates that (docs/DESIGN.md,
  "Registries apart from the scripts"): the workers create an empty stream
  and its group (BUSYGROUP here later), the failover tracking gets {-1}
  from watermark.lua and keeps no watermark, the listing skips it. The
  SADD follows the
  MariaDB commit, so the id is a real event: the create's retry, or the
  rebuild check after a reconnect, loads the hash.
- The reverse order would lose an event for good: a hash nobody lists is
  never drained by the workers.
- tk:wq:rooms after the script: listed before, the room would meet the
  admitter without its hash and be dropped (and listed again); after, it
  is listed once it exists. A crash between leaves a new room unlisted,
  which loses nothing: it has nobody waiting yet, and its first join that
  answers "waiting" lists it (gw_route_queue_join.c); the create's retry
  ("exists") lists it too.
]]

local ev, q, wq = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', ev) == 1 then
  return 'exists'
end
redis.call('HSET', ev,
  'name', ARGV[2], 'state', ARGV[3], 'total', ARGV[4], 'remaining', ARGV[5],
  'maxpu', ARGV[6], 'opens', ARGV[7], 'closes', ARGV[8], 'seq', ARGV[9],
  'created', ARGV[10], 'stock_ver', ARGV[12], 'state_ver', ARGV[13], 'ver', 1)
if ARGV[14] == '1' then
  redis.call('HSET', ev, 'wr', '1', 'wr_rate', ARGV[15], 'wr_ttl', ARGV[16], 'wr_opens', ARGV[17], 'wr_ver', ARGV[19])
  redis.call('HSET', wq, 'paused', ARGV[18])
end
if ARGV[20] ~= '' then
  redis.call('HSET', ev, 'pr_board', ARGV[20], 'pr_top', ARGV[21], 'pr_opens', ARGV[22])
end
local r = redis.pcall('XGROUP', 'CREATE', q, ARGV[11], '0', 'MKSTREAM')
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
  return redis.error_reply(r.err)
end
return redis.status_reply('OK')
