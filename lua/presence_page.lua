--[[
presence_page.lua: one page of the admin presence lookup
(GET /v1/admin/events/{id}/presence, gateway/watch/gw_route_admin_presence.c).

KEYS[1]  the zset to list: tk:{E}:pr (the event) or tk:{E}:pp:<page>:<tab>
ARGV[1]  now, ms         ARGV[2] T: the walk's snapshot, ms (the first page's now)
ARGV[3]  cursor score, or "" on the first page
ARGV[4]  cursor user, or ""
ARGV[5]  limit (1-1000)

Order and the cursor. A walk lists the users whose last heartbeat is in
(now - 30 s, T], in (score, user) order, starting after the cursor's
(score, user). Present is judged at each page's own now (never "until a
sweep"). A user is never listed twice: once listed, a new heartbeat moves
its score above T, out of the walk, and the cursor only moves forward;
a user whose first heartbeat of the walk came after T is not in it (a
new walk sees it). Equal scores (heartbeats of one millisecond) are
ordered by user, as Redis orders them, and the cursor keeps its user so
none is skipped or repeated.

The script touches KEYS[1] only. The event shape's per-user page hashes
(tk:{E}:pu:<user>) are not read here: a script must not name a key it was
not given (docs/DESIGN.md, "Redis ACLs"; Redis Cluster), and the users are
only known once listed. The gateway reads each listed user's hash with a
plain HGETALL, pipelined, after this call (gw_route_admin_presence.c) and
keeps the pages present at this page's now.

Returns {count, more, user, score, user, score, ...} where count = users
of KEYS[1] present now, more = 1 when a next page exists.
]]

local key = KEYS[1]
local now, T = tonumber(ARGV[1]), tonumber(ARGV[2])
local cut = now - 30000
local limit = tonumber(ARGV[5])
local want = limit + 1
local cs, cu = ARGV[3], ARGV[4]
local got = {}

local from = '(' .. string.format('%d', cut)
if cs ~= '' and tonumber(cs) > cut then
  -- the rest of the cursor's own score, in user order, then above it
  local eq = redis.call('ZRANGE', key, cs, cs, 'BYSCORE')
  for _, u in ipairs(eq) do
    if u > cu and #got < want then
      got[#got + 1] = {u, cs}
    end
  end
  from = '(' .. cs
end
if #got < want and T > cut then
  local rest = redis.call('ZRANGE', key, from, string.format('%d', T), 'BYSCORE', 'LIMIT', 0, want - #got, 'WITHSCORES')
  for i = 1, #rest, 2 do
    got[#got + 1] = {rest[i], rest[i + 1]}
  end
end

local out = {redis.call('ZCOUNT', key, '(' .. string.format('%d', cut), '+inf'), 0}
if #got > limit then
  out[2] = 1
end
for i = 1, math.min(#got, limit) do
  out[#out + 1] = got[i][1]
  out[#out + 1] = got[i][2]
end
return out
