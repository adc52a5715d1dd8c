--[[
watermark.lua: how far the workers have drained one event's stream
(gateway/gw_path.h says why the gateway needs it), and, asked for a user,
that user's claim record with its status as of that point.

KEYS[1] tk:{E}:ev      event hash (seq)
KEYS[2] tk:{E}:q       the stream the workers drain
KEYS[3] tk:{E}:claims  (optional, with ARGV[1]) the claims hash
ARGV[1] (optional) a user id: GET /v1/events/{E}/claims/{user}

Returns {seq, oldest}: the event's ticket sequence and the ticket of the
oldest entry still in the stream (the first line's of a packed entry; 0
when it is empty, 1 when that entry's ticket cannot be read), read in one
step so the two agree. An entry leaves the stream only after its row is committed
in MariaDB, and tickets are drawn in stream order, so every ticket below
`oldest` is in MariaDB. {-1, 0} when the event hash does not exist.

With a user: {seq, oldest, record}, record being the user's claim record
(false when there is none) whose 'p' is shown as 'c' when the claim is
confirmed: its ticket is below `oldest`, or below seq + 1 when the stream
is empty. A confirmed claim's record keeps its 'p' in Redis (the worker's
confirm costs per batch, not per claim); why this rule is exact is at the
top of lua/confirm.lua. Without the event hash the record is given as it
is (the event is being rebuilt; nothing is shown confirmed early).
]]
local seq = redis.call('HGET', KEYS[1], 'seq')
local rec = false
if KEYS[3] then
  rec = redis.call('HGET', KEYS[3], ARGV[1])
end
if not seq then
  return {-1, 0, rec}
end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local oldest = 0
if #first == 1 then
  local f = first[1][2]
  for i = 1, #f, 2 do
    -- m: a packed entry (lua/claim.lua), its first line "<user> <ticket> <qty>"
    -- holding its lowest ticket; r "<ticket> <qty> <created_ms>" and t the
    -- ticket: the shapes before it
    if f[i] == 'm' then
      oldest = tonumber(string.match(f[i + 1], '^%S+ (%d+)')) or 0
    elseif f[i] == 'r' or f[i] == 't' then
      oldest = tonumber(string.match(f[i + 1], '^%d+')) or 0
    end
  end
  -- An oldest entry whose ticket cannot be read (damage: claim.lua never
  -- writes one) must not read as an empty stream, which would tell the
  -- gateway's journal that everything up to seq is in MariaDB: 1 says
  -- "nothing below ticket 1", which confirms and prunes nothing.
  if oldest < 1 then
    oldest = 1
  end
end
seq = tonumber(seq)
if rec and string.sub(rec, -2) == ' p' then
  local t = tonumber(string.match(rec, '^(%d+) '))
  local bound = #first == 1 and oldest or seq + 1
  if t and t < bound then
    rec = string.sub(rec, 1, -2) .. 'c'
  end
end
if KEYS[3] then
  return {seq, oldest, rec}
end
return {seq, oldest}
