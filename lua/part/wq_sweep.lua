-- lua/part/wq_sweep.lua, included by wq_join.lua and wq_status.lua (scripts/embed-lua.sh: a line "--#include
-- NAME.lua" is replaced by lua/part/NAME.lua): the sweep. Users silent for 30 s leave live and seen, each once,
-- at most 500 a call (lua/wq_status.lua, "Presence and the sweep"). After an outage the cut is the one of
-- lua/wq_admit.lua's steps ("An outage"): the grace they wrote, or, before the first step after it, the last
-- step's own. Uses the including script's wq, seen, live and now.
do
  local g = redis.call('HMGET', wq, 'step', 'grace')
  local step = tonumber(g[1] or '0') or 0
  local gcut, guntil = string.match(g[2] or '', '^(%-?%d+):(%d+)$')
  gcut, guntil = tonumber(gcut), tonumber(guntil) or 0
  local cut = now - 30000
  if step > 0 and now - step > 10000 and step - 30000 < cut then
    cut = step - 30000 -- no step since the outage yet
  end
  if guntil > now and gcut < cut then
    cut = gcut
  end
  local old = redis.call('ZRANGEBYSCORE', seen, '-inf', cut, 'LIMIT', 0, 500)
  if #old > 0 then
    redis.call('ZREM', live, unpack(old))
    redis.call('ZREM', seen, unpack(old))
  end
end
