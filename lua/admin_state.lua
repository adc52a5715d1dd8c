--[[
admin_state.lua: set an event's stored state (open, paused or closed).

KEYS[1] tk:{E}:ev   event hash
ARGV[1] state (validated by the gateway)

Returns "OK", or "not_found" when the event hash does not exist (it is
never created here: only admin_create.lua makes an event hash).
]]

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'not_found'
end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
return 'OK'
