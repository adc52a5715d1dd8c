--[[
lb_ack.lua: board stream entries written to MariaDB, released in one step
(worker/wk_lb_drain.c).

KEYS[1] tk:lb:{B}:q     the board's stream
KEYS[2] tk:lb:{B}:pend  hash: season -> its score entries in KEYS[1] not yet acked
ARGV[1] consumer group ("wk")
ARGV[2..] entry ids (at most 1000 per call: the caller chunks)

XACK then XDEL, atomically: a worker killed between two separate commands
would leave an entry acked but still in the stream, never delivered again
and never deleted, and the stream's length (which tk-import and the rebuild
read as "entries not yet in MariaDB") would stay above 0 for good.

In the same step, each score entry still in the stream takes its scores
off its season's count in KEYS[2]: a packed entry (k = m) its n lines, a
single one (k = s, written before the packing) one (lb_write.lua adds as
many as it XADDs; at 0 the
field is removed, and lb_write.lua may then drop the season's keys once it
is out of the kept window: the season is wholly in MariaDB). The season
is read here, from the entry itself, not trusted from the caller: an id
already gone (acked by another worker that took it over, or replayed) is
not in the stream and takes nothing off, so no entry is counted twice;
a malformed entry is counted by its "s" field if it has a score's shape
and one, else not at all. An entry written before the counts existed has
none: the count never goes below 0 (the field is removed instead).
Returns the count acked.
]]
local q, pend = KEYS[1], KEYS[2]
local seen = {} -- an id given twice in one call is counted once (XDEL comes after this loop)
for i = 2, #ARGV do
  local e = not seen[ARGV[i]] and redis.call('XRANGE', q, ARGV[i], ARGV[i])[1]
  seen[ARGV[i]] = true
  if e then
    local kind, s, lines
    local f = e[2]
    for j = 1, #f - 1, 2 do
      if f[j] == 'k' then
        kind = f[j + 1]
      elseif f[j] == 's' then
        s = f[j + 1]
      elseif f[j] == 'n' then
        lines = tonumber(f[j + 1])
      end
    end
    local k = 0
    if kind == 's' then
      k = 1
    elseif kind == 'm' and lines and lines >= 1 then
      k = lines
    end
    if k > 0 and s then
      -- HMGET, not HGET: the worker's command list (docs/DESIGN.md, "Redis ACLs")
      local n = tonumber(redis.call('HMGET', pend, s)[1] or '0') or 0
      if n > k then
        redis.call('HINCRBY', pend, s, -k)
      else
        redis.call('HDEL', pend, s)
      end
    end
  end
end
local n = redis.call('XACK', q, ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', q, unpack(ARGV, 2))
return n
