--[[
admin_state.lua: set an event's stored state (open, paused or closed) to
what MariaDB committed at a version.

KEYS[1] tk:{E}:ev   event hash
ARGV[1] state (validated by the gateway)
ARGV[2] version: events.state_ver of the change

An event that is opened or paused is listed in tk:wq:rooms again: the
admitter lets a closed event's room go (lua/wq_admit.lua), and a closed
event may be opened again. tk:wq:rooms is in another slot on a Redis
Cluster, so the caller (gw_route_admin_state.c) lists it, with SADDs
before and after this script (docs/DESIGN.md, "Registries apart from the
scripts"); an event without a room listed so is dropped by the admitter's
next step ({-1}, room off).

Returns "OK"; "superseded" when Redis already holds a newer version's state
(nothing changes); "not_found" when the event hash does not exist (it is
never created here: only admin_create.lua makes an event hash).

Why the stores agree (gateway/admin/gw_route_admin_state.c): MariaDB bumps
state_ver under the events row lock, so versions follow the order of the
committed changes; each change's step runs after its commit and sends its
own state and version. Whatever order two steps arrive in, the newer
version's state is the one left here, and it is MariaDB's.
]]

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'not_found'
end
if tonumber(ARGV[2]) < tonumber(redis.call('HGET', KEYS[1], 'state_ver') or '0') then
  return 'superseded'
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'state_ver', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return 'OK'
