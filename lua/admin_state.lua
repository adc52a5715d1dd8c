--[[
admin_state.lua: set an event's stored state (open, paused or closed) to
what MariaDB committed at a version.

KEYS[1] tk:{E}:ev   event hash
KEYS[2] tk:wq:rooms (not tagged, as in lua/admin_create.lua)
ARGV[1] state (validated by the gateway)
ARGV[2] version: events.state_ver of the change
ARGV[3] the event id

An event with a waiting room that is opened or paused is listed in
tk:wq:rooms again: the admitter lets a closed event's room go
(lua/wq_admit.lua), and a closed event may be opened again.

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
if ARGV[1] ~= 'closed' and redis.call('HGET', KEYS[1], 'wr') == '1' then
  redis.call('SADD', KEYS[2], ARGV[3])
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return 'OK'
