--[[
wq_lease.lua: take or renew the admitter's lease (gateway/queue/gw_admitter.h).

KEYS[1] tk:{wq}:lease     KEYS[2] tk:{wq}:epoch   (one tag: one slot on a
        Redis Cluster)
ARGV[1] this gateway's id     ARGV[2] expiry, ms; "0": give the lease back
ARGV[3] the floor: the epoch under its name before issue 15 (tk:wq:epoch,
        read once by the gateway, "0" when absent); a new epoch is above it

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

The rename (issue 15: tk:wq:lease and tk:wq:epoch were in two slots). The
lease may start afresh under its new name: it lives 3 s, so a gateway of
the old version holding tk:wq:lease is at most one more lease beside a new
one during a rolling upgrade, and the fence below keeps even that from
admitting anyone twice. The epoch may not: every room's fence
(tk:{E}:wq:fence) keeps the newest epoch it saw, and a counter restarted at
1 would be refused in every room that had seen a larger one: nobody would
be admitted there again. So the first INCR under the new name starts from
max(new counter, ARGV[3]), the old counter's value; from then on the new
counter is the one that grows. During the upgrade an old gateway may still
take the old lease with a larger old epoch; then the rooms follow whichever
step carries the larger epoch, each admission still made once (a step is
atomic), until the old gateways are gone.
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
local floor = tonumber(ARGV[3] or '0') or 0
if (tonumber(redis.call('GET', KEYS[2]) or '0') or 0) < floor then
  redis.call('SET', KEYS[2], ARGV[3]) -- the decimal string as given: no number is formatted here
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
return epoch
