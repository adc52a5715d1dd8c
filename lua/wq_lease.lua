--[[
wq_lease.lua: take or renew the admitter's lease (gateway/queue/gw_admitter.h).

KEYS[1] tk:wq:lease     KEYS[2] tk:wq:epoch
ARGV[1] this gateway's id     ARGV[2] expiry, ms; "0": give the lease back

The lease is "<id> <epoch>". Returns the epoch (> 0) when the lease is this
gateway's for the next ARGV[2] ms (renewed: the same epoch; taken because
nobody held it: a new one, INCR of tk:wq:epoch, which never expires), 0
when another gateway holds it. One script, so "is it free, then take it"
cannot interleave with another gateway's attempt: at most one holder at
any time.

With ARGV[2] "0" (a gateway stopping cleanly) the lease is deleted if it
is this gateway's, so another takes it at its next try (within a second)
instead of after the expiry; returns 0. Only in a script: a GET then a DEL
from the gateway could delete a successor's lease taken in between.

Why an epoch (a fencing token). The lease alone says who may *send* admit
steps; a step sent by a holder that then stalled (its link to Redis held,
the process frozen between deciding and sending) can still arrive after
the lease went to another gateway. Every step carries the epoch its sender
held, and lua/wq_admit.lua refuses one older than the newest it has seen
in the room: epochs only grow, so a successor's first step shuts out every
step of its predecessors.
]]
local cur = redis.call('GET', KEYS[1])
if cur then
  local id, epoch = string.match(cur, '^(.*) (%d+)$')
  if id == ARGV[1] and ARGV[2] == '0' then
    redis.call('UNLINK', KEYS[1])
    return 0
  elseif id == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(epoch)
  end
  return 0
end
if ARGV[2] == '0' then
  return 0
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
return epoch
