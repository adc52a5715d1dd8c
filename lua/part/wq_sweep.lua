-- lua/part/wq_sweep.lua, included by wq_join.lua and wq_status.lua after lua/part/wq_cut.lua (scripts/embed-lua.sh:
-- a line "--#include NAME.lua" is replaced by lua/part/NAME.lua): the sweep. Users silent since the cut (wq_cut)
-- leave live and seen, each once, at most 500 a call (lua/wq_status.lua, "Presence and the sweep"). Uses the
-- including script's wq, seen, live and now.
do
  local old = redis.call('ZRANGEBYSCORE', seen, '-inf', wq_cut(wq, now), 'LIMIT', 0, 500)
  if #old > 0 then
    redis.call('ZREM', live, unpack(old))
    redis.call('ZREM', seen, unpack(old))
  end
end
