--[[
wk_stats_prune.lua: keeps the worker-stats hash bounded
(worker/wk_stats.h says when the workers run it).

KEYS[1] tk:wk:stats   fields "<consumer>:<stat>" (docs/CONTRACTS.md)
ARGV[1] cutoff ms     consumers whose seen_ms is below it are removed
ARGV[2] now ms        given as seen_ms to a consumer that has none
ARGV[3] consumer      every field of this one is removed too ("" = none)

A worker name holds its pid by default, so every restart adds fields; a
worker that exits cleanly removes its own (ARGV[3]), and one that died is
removed here once it has not reported for a while. A consumer without
seen_ms (its worker died between two commands of a stats push) is not
removed at once: it gets seen_ms = now, so it goes in turn if it never
reports again, and a live worker in the middle of its first push loses
nothing. Runs in one step, so no push interleaves. Returns the count of
fields removed.
]]
local all = redis.call('HGETALL', KEYS[1])
local cutoff = tonumber(ARGV[1])
local seen, known = {}, {}
for i = 1, #all, 2 do
  local consumer, stat = string.match(all[i], '^(.*):([^:]*)$')
  if consumer then
    known[consumer] = true
    if stat == 'seen_ms' then
      seen[consumer] = tonumber(all[i + 1]) or 0
    end
  end
end
local drop = {}
for consumer in pairs(known) do
  if consumer == ARGV[3] or (seen[consumer] ~= nil and seen[consumer] < cutoff) then
    drop[consumer] = true
  elseif seen[consumer] == nil then
    redis.call('HSET', KEYS[1], consumer .. ':seen_ms', ARGV[2])
  end
end
local fields = {}
for i = 1, #all, 2 do
  local consumer = string.match(all[i], '^(.*):[^:]*$')
  if consumer and drop[consumer] then
    fields[#fields + 1] = all[i]
  end
end
-- HDEL in slices: unpack() of a very long list would overflow Lua's stack.
for i = 1, #fields, 1000 do
  redis.call('HDEL', KEYS[1], unpack(fields, i, math.min(i + 999, #fields)))
end
return #fields
