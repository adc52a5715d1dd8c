--[[
rebuild_swap.lua: the last step of a rebuild of one event's Redis state from
MariaDB (common/tk_rebuild.c, docs/REBUILD.md), atomic.

KEYS[1] tk:{E}:ev               event hash
KEYS[2] tk:{E}:claims           claims hash (replaced)
KEYS[3] tk:{E}:claims:rebuild   the claims loaded from MariaDB (temporary)
KEYS[4] tk:{E}:q                stream the workers drain
KEYS[5] tk:{E}:claims:old       where the replaced claims hash is moved; the
        caller UNLINKs it after the script (and the temporary hash after a
        refusal), so freeing a hash of a million fields happens in Redis's
        background thread, not inside this atomic step.
KEYS[6] tk:{E}:wq               the waiting room's hash (its paused)
ARGV[1] event id
ARGV[2..5] the event hash as the rebuild saw it before reading MariaDB:
        seq, total, remaining, state ("" for a field or hash that was absent)
ARGV[6] claim rows loaded into KEYS[3]
ARGV[7] name    ARGV[8] state   ARGV[9] total   ARGV[10] remaining
ARGV[11] max per user  ARGV[12] opens ms  ARGV[13] closes ms (0 = none)
ARGV[14] ticket high-water mark in MariaDB   ARGV[15] created ms
ARGV[16] consumer group ("wk")
ARGV[17] stock_ver   ARGV[18] state_ver: the admin versions MariaDB holds
        (sql/005), so a late admin Redis step older than what was rebuilt
        is refused as superseded (lua/admin_stock.lua, admin_state.lua)
ARGV[19] the waiting room on ("1") or off ("0")  ARGV[20] release_per_s
ARGV[21] access_ttl_s  ARGV[22] its opens ms (0 = at once)  ARGV[23] paused
        ("1"/"0")  ARGV[24] wr_ver (sql/006): the room as MariaDB holds it.
        On: the event hash's wr fields and the room's paused are written; off: only a wr Redis still held is set to "0" (a
        room-less event's hash stays as it was).
ARGV[25] the priority presale's board ("" = none)  ARGV[26] its top
ARGV[27] its opens ms: with a presale, pr_board, pr_top and pr_opens are
        written (the snapshot's copy, pr_snap and tk:{E}:prio, comes after
        the swap: common/tk_rebuild.c step 6, lua/prio_copy.lua); without,
        the hash's pr_* stay as they were (none).

Returns {"OK", seq} when swapped, or {word} and nothing changed (the
caller drops the temporary hash):
  "not_drained"  the stream holds entries (granted claims not yet in MariaDB)
  "moved"        the event hash differs from the snapshot: a claim was
                 granted (seq moved) or an admin change reached Redis after
                 the rebuild read it; the caller retries from the start
  "incomplete"   the temporary hash does not hold ARGV[6] claims (it expired
                 or was touched): the caller retries

Why it is exact: the caller saw the stream empty and took the snapshot
before reading MariaDB, and held the event's database rows locked since; a
claim granted after the snapshot moves seq (claim.lua draws a ticket for
every grant), so checking seq and the stream here, in the same atomic step
that writes, leaves no window in which a grant could be overwritten.

One slot (issue 15): every key carries the tag {E}. The registries are
the caller's (common/tk_rebuild.c, registries_before): SADD tk:events
BEFORE this script and, with a room, tk:wq:rooms after an "OK" (as the
create does, lua/admin_create.lua: the room's places are not rebuilt, so
it has nobody waiting until a join, which lists it too). Before, because a crash between the two then leaves a listed id
whose hash is missing or old, which every reader tolerates (the workers,
the failover tracking, the listing, the admitter: docs/DESIGN.md,
"Registries apart from the scripts") and the next rebuild finishes;
after the script the other way round, the event's stream would exist with
nobody listing it, never drained. A refused swap leaves the id listed:
the event is in MariaDB, and the retry swaps.
]]

local ev, claims, tmp, q, old, wq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local function refuse(word)
  return {word}
end

if redis.call('XLEN', q) > 0 then
  return refuse('not_drained')
end
local cur = redis.call('HMGET', ev, 'seq', 'total', 'remaining', 'state')
for i = 1, 4 do
  if (cur[i] or '') ~= ARGV[1 + i] then
    return refuse('moved')
  end
end
local rows = tonumber(ARGV[6])
if redis.call('HLEN', tmp) ~= rows then
  return refuse('incomplete')
end

-- The caller emptied KEYS[5] before loading; a plain RENAME over an existing
-- claims hash would free it synchronously here.
if redis.call('EXISTS', claims) == 1 then
  redis.call('RENAME', claims, old)
end
if rows > 0 then
  redis.call('RENAME', tmp, claims)
  redis.call('PERSIST', claims)
end

-- max(seq, high-water mark), kept as the decimal strings they are
local seq = ARGV[14]
if cur[1] and tonumber(cur[1]) > tonumber(seq) then
  seq = cur[1]
end
redis.call('HSET', ev,
  'name', ARGV[7], 'state', ARGV[8], 'total', ARGV[9], 'remaining', ARGV[10],
  'maxpu', ARGV[11], 'opens', ARGV[12], 'closes', ARGV[13], 'seq', seq,
  'created', ARGV[15], 'stock_ver', ARGV[17], 'state_ver', ARGV[18])
if ARGV[19] == '1' then
  redis.call('HSET', ev, 'wr', '1', 'wr_rate', ARGV[20], 'wr_ttl', ARGV[21], 'wr_opens', ARGV[22], 'wr_ver', ARGV[24])
  redis.call('HSET', wq, 'paused', ARGV[23])
else
  local wr = redis.call('HMGET', ev, 'wr')[1]
  if wr and wr ~= '0' then
    redis.call('HSET', ev, 'wr', '0')
  end
end
if ARGV[25] ~= '' then
  redis.call('HSET', ev, 'pr_board', ARGV[25], 'pr_top', ARGV[26], 'pr_opens', ARGV[27])
end
local r = redis.pcall('XGROUP', 'CREATE', q, ARGV[16], '0', 'MKSTREAM')
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
  return redis.error_reply(r.err)
end
return {'OK', seq}
