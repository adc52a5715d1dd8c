-- lua/part/wq_cut.lua, included by wq_join.lua, wq_status.lua and admin_queue.lua (scripts/embed-lua.sh): the
-- presence cut of a room. A user whose last waiting-room heartbeat is after it is present: 30 s before now, or,
-- after an outage, the cut of lua/wq_admit.lua's steps ("An outage"): the grace they wrote, or, before the first
-- step after it, the last step's own.
local function wq_cut(wqkey, now)
  local g = redis.call('HMGET', wqkey, 'step', 'grace')
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
  return cut
end
