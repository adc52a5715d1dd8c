--[[
watermark.lua: how far the workers have drained one event's stream
(gateway/gw_path.h says why the gateway needs it).

KEYS[1] tk:{E}:ev   event hash (seq)
KEYS[2] tk:{E}:q    the stream the workers drain

Returns {seq, oldest}: the event's ticket sequence and the ticket of the
oldest entry still in the stream (0 when it is empty), read in one step so
the two agree. An entry leaves the stream only after its row is committed
in MariaDB, and tickets are drawn in stream order, so every ticket below
`oldest` is in MariaDB. {-1, 0} when the event hash does not exist.
]]
local seq = redis.call('HGET', KEYS[1], 'seq')
if not seq then
  return {-1, 0}
end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local oldest = 0
if #first == 1 then
  local f = first[1][2]
  for i = 1, #f, 2 do
    if f[i] == 't' then
      oldest = tonumber(f[i + 1])
    end
  end
end
return {tonumber(seq), oldest}
