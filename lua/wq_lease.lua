--[[
wq_lease.lua: take or renew the admitter's lease (gateway/queue/gw_admitter.h).

KEYS[1] tk:{wq}:lease     KEYS[2] tk:{wq}:epoch   (one tag: one slot on a
        Redis Cluster)
ARGV[1] this gateway's id     ARGV[2] expiry, ms; "0": give the lease back
ARGV[3] the floor: the epoch under its name before issue 15 (tk:wq:epoch,
        read once by the gateway, "0" when absent), raised to the fence of
        any room that refused this gateway's step (below, "A lost
        counter"); a new epoch is above it, and a lease of this gateway's
        whose epoch is not above it is drawn again

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

A lost counter (review rev6). The counter and the rooms' fences live in
different slots: on a Redis Cluster the {wq} master can restart empty, or
fail over to a replica that missed an INCR, while the rooms' masters keep
their fences; on one Redis a step carrying the old epoch can reach a room
rebuilt after Redis lost everything. The counter then starts again below
the fences: the holder draws epoch 1, every room with a higher fence
refuses its steps ({-2}), and a plain renewal would hand the same epoch
back for as long as it holds the lease: nobody admitted, ever. So a
refused step raises the holder's floor to the fence it met
(gateway/queue/gw_admitter.c), and a renewal of a lease whose epoch is not
above the floor draws a new epoch above it, as a takeover does. That is
safe: only a lease this gateway holds is redrawn, and a fence above a
holder's epoch can only come from a counter that went back (or an old
gateway's key during the rename), never from a holder newer than it.
]]
local floor = tonumber(ARGV[3] or '0') or 0
local cur = redis.call('GET', KEYS[1])
if cur then
  local id, epoch = string.match(cur, '^(.*) (%d+)$')
  if id == ARGV[1] and ARGV[2] == '0' then
    redis.call('UNLINK', KEYS[1])
    return 0
  elseif id == ARGV[1] and tonumber(epoch) > floor then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(epoch)
  elseif id ~= ARGV[1] then
    return 0
  end
  -- ours, but a room's fence is at or above its epoch: drawn again below
elseif ARGV[2] == '0' then
  return 0
end
if (tonumber(redis.call('GET', KEYS[2]) or '0') or 0) < floor then
  redis.call('SET', KEYS[2], ARGV[3]) -- the decimal string as given: no number is formatted here
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
return epoch
