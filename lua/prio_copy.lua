--[[
prio_copy.lua: copy one chunk of an event's priority snapshot from MariaDB
(its record, event_priority) into Redis, where claim.lua reads it.

KEYS[1] tk:{E}:ev    event hash
KEYS[2] tk:{E}:prio  the snapshot's user ids
ARGV[1] the snapshot's time (ms; events.pr_snapshot_at)
ARGV[2] its size (rows of event_priority)
ARGV[3] "1" on the last chunk, else "0"
ARGV[4..] user ids of this chunk (none for an empty snapshot)

Returns "OK"; "done" when pr_snap is already there (nothing changed: the
snapshot is written once); "not_found" when the event hash does not exist
(nothing is created: an event Redis lost comes back with its rebuild,
which copies the snapshot too).

Why a chunked copy is safe. claim.lua treats the set as complete only once
pr_snap is there, and pr_snap is written by the last chunk, after every
member is in. Until then it refuses every claim of the window
"priority_pending" (503): a partial set is never read. Every chunk is an
SADD of rows MariaDB fixed once (one transaction, only while
pr_snapshot_at was NULL), so a copy that died halfway, two gateways
copying at once, or a rebuild copying after a gateway, add the same members:
the set can only reach that one snapshot, never another.
]]

local ev, prio = KEYS[1], KEYS[2]
local cur = redis.call('HMGET', ev, 'state', 'pr_snap')
if not cur[1] then
  return 'not_found'
end
if cur[2] then
  return 'done'
end
if #ARGV > 3 then
  redis.call('SADD', prio, unpack(ARGV, 4))
end
if ARGV[3] == '1' then
  -- no version move: what a client sees (state, the event object) does not change with the copy
  redis.call('HSET', ev, 'pr_snap', ARGV[1], 'pr_n', ARGV[2])
end
return 'OK'
