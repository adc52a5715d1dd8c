--[[
admin_queue.lua: one consistent snapshot of an event's waiting room, for
GET (and the answer of POST) /v1/admin/events/{E}/queue.

KEYS[1] tk:{E}:ev       event hash (wr, wr_rate)
KEYS[2] tk:{E}:wq       the room's counters and pause (docs/CONTRACTS.md)
KEYS[3] tk:{E}:wq:seen  user -> last waiting-room heartbeat ms

present: heartbeats after the room's presence cut (lua/part/wq_cut.lua: 30 s
before now, or the grace after an outage, as the room scripts count them)
on Redis's clock (TIME), the one the room scripts write them with
(lua/wq_status.lua), not the caller's.

Returns {0} when the event hash does not exist, else {1, wr, wr_rate, n,
serving, admitted, abandoned, paused, meas, present}: the fields as stored
("" when absent) and present = users of the line present (above).
Reads only.
]]

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0}
end
local ev = redis.call('HMGET', KEYS[1], 'wr', 'wr_rate')
local wq = redis.call('HMGET', KEYS[2], 'n', 'serving', 'admitted', 'abandoned', 'paused', 'meas')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
--#include wq_cut.lua
local present = redis.call('ZCOUNT', KEYS[3], '(' .. string.format('%d', wq_cut(KEYS[2], now)), '+inf')
local out = {1, ev[1] or '', ev[2] or ''}
for i = 1, 6 do
  out[#out + 1] = wq[i] or ''
end
out[#out + 1] = present
return out
