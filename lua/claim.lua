--[[
claim.lua: grant claims of one event, in arrival order, atomically.

KEYS[1] tk:{E}:ev      event hash (state, remaining, maxpu, opens, closes, seq, ver, wr,
                       pr_opens, pr_snap)
KEYS[2] tk:{E}:claims  user id -> claim record "<ticket> <qty> <created_ms> <status>"
KEYS[3] tk:{E}:q       stream the workers drain into MariaDB: one entry per
                       call that granted anything (below, "The entry")
KEYS[4] tk:{E}:prio    the priority presale's snapshot: the user ids that may
                       claim from pr_opens (read only inside that window)
ARGV[1] now, ms since the epoch (the gateway's clock; it also stamps created_at)
ARGV[2] admitted flags, one character per claim in order: "1" when the claim
        carried a valid access token for this event (gateway/queue/gw_access.h),
        else "0"; read only when the event's room is on (ev field wr "1")
ARGV[3] the entry shape: "m" one packed entry per call (the default), "s"
        one entry per claim (CLAIM_ENTRY=single, for workers older than the
        packed reader: CHANGELOG.md)
ARGV[4], ARGV[5], ... pairs of user id and quantity, in arrival order; the
        gateway validated both and groups the claims of one loop turn here.
        A quantity is plain decimal digits (the gateway writes it with
        tk_fmt_i64): it is copied into the record and the entry as given.

Numbers become text through string.format('%d') or are copied as given:
Lua's own number-to-string ('..' on a number, tostring) is printf's
'%.14g' on a double, which glibc formats with multi-precision arithmetic;
four such conversions a claim were about a tenth of Redis's user time in
the HTTP/1.1 storm (perf, issue 16).

The entry (docs/CONTRACTS.md). With "m", the claims granted by the call go
into ONE entry, XADDed after the loop: c <created_ms> (ARGV[1], the same for
every claim of the call) and m <lines>, one line per granted claim in
ticket order, "<user> <ticket> <quantity>", joined by "\n". A call that
grants nothing adds nothing. With "s", each granted claim is its own entry
u <user> t <ticket> n <quantity> c <created_ms>, as before the packing.
Why: an XADD per claim was the dearest command of a grant after HSETNX,
and every entry costs the workers an XREADGROUP delivery (and its
propagated XCLAIM) and an XACK; one per call cut the XADD's share of Redis
CPU per claim about 4x, the drain's about 8x (issue 16; bench/README.md). The tickets of one entry are
consecutive and every later entry's are higher, so tickets still rise
along the stream: the watermark rule of lua/confirm.lua holds with "the
ticket of the oldest entry" read from its first line.

Returns a flat array, two items per claim, in the order given:
  "N", record   a new claim: the unit(s) are taken and the claim is queued
  "E", record   the user already holds this claim (a retry; nothing changes);
                a 'p' record whose claim the workers have confirmed is
                given with 'c' (the rule and why it is exact: the top of
                lua/confirm.lua; it costs one XRANGE per call, only in a
                call that answers such a retry)
  code, ""      refused, nothing changed: "sold_out", "limit_reached",
                "not_open", "paused", "closed", "not_admitted",
                "priority_pending" (the gateway answers 503, Retry-After 1)
or a single "not_found" when the event does not exist.

Why it is exact. Redis runs a script alone, so between the first and the
last command here nothing else touches the event: the existence check of a
user's claim and its creation are one step, which is what a per-user lock
would buy (a SET NX PX lock taken and released inside one script could
never be seen by anyone else, so it would cost a command per claim for
nothing; the claim entry itself is the lock: HSETNX takes it and writes
the record in one command). A ticket is drawn (seq + 1) only by a claim that is granted,
so with no retries the granted tickets are exactly 1..n, and units are
taken strictly in the order the claims arrive: a claim is refused for stock
only when its quantity exceeds what is left at its turn. The record and the
stream entry are written in the same step as the stock moves (a packed
entry at the end of the step, still inside it), so a claim is never
granted without being queued for the database; with AOF
`appendfsync always` the whole step is on disk before the reply.

The waiting room's gate. On an event whose room is on (wr "1"), a claim
that is not admitted is refused "not_admitted" before anything else is
looked at, its own claim record included: the room decides who may claim
at all, and a refusal changes nothing. An event without a room pays one
more field in the HMGET and nothing per claim.

The priority presale's gate. Before opens, an event with a presale
(pr_opens > 0) lets the users of its snapshot claim from pr_opens on; the
rest stay "not_open" until opens. The snapshot is taken at pr_opens by a
gateway (gateway/claims/gw_prio.c: MariaDB records it first, then copies
it here, setting pr_snap last, only once the whole set is in). Between
pr_opens and the copy, nobody can be told yes or no for certain, so every
claim is refused "priority_pending" (503, retry in a second): nobody is
wrongly refused or wrongly admitted. After the copy, SISMEMBER decides per
claim, and a member's claim goes on exactly as any claim after opens:
same ticket order, same stock check, in the same atomic step. The set and
pr_snap are written once (lua/prio_copy.lua refuses a second copy), so a
score change after the snapshot moves nobody in or out. An event without a
presale pays one more field in the HMGET (pr_opens, absent = 0); the
window costs one HGET per call and one SISMEMBER per claim.
]]

local ev, claims, q, prio = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local fmt = string.format
local now = ARGV[1]
-- The layout is checked before anything is written: a caller of the layout
-- before ARGV[3] would have its pairs read shifted by one, and an error
-- midway leaves the writes made so far (Redis does not undo a script).
if (ARGV[3] ~= 'm' and ARGV[3] ~= 's') or (#ARGV - 3) % 2 ~= 0 then
  return redis.error_reply('ERR claim: expected now, admitted flags, entry shape m or s, then user/quantity pairs')
end
local packed = ARGV[3] == 'm'
local e = redis.call('HMGET', ev, 'state', 'remaining', 'maxpu', 'opens', 'closes', 'seq', 'wr', 'pr_opens', 'ver')
if not e[1] then
  return {'not_found'}
end
local state, remaining, maxpu = e[1], tonumber(e[2]), tonumber(e[3])
local opens, closes, seq = tonumber(e[4]), tonumber(e[5]), tonumber(e[6])
local seq0 = seq
local nowms = tonumber(now)
local gated = e[7] == '1'
local admitted = ARGV[2]

local refusal = nil
if state == 'closed' or (closes > 0 and nowms >= closes) then
  refusal = 'closed'
elseif state == 'paused' then
  refusal = 'paused'
elseif opens > 0 and nowms < opens then
  refusal = 'not_open'
  local pr_opens = tonumber(e[8] or '0')
  if pr_opens > 0 and nowms >= pr_opens then
    -- the priority window: the snapshot's members may claim, once it is here
    if redis.call('HGET', ev, 'pr_snap') then
      refusal = 'priority'
    else
      refusal = 'priority_pending'
    end
  end
end

-- A retry's record as the user should see it: a 'p' whose entry left the
-- stream is confirmed (lua/confirm.lua). The bound is read once, when first
-- needed: entries are only appended during this call, so a claim granted
-- later in it has a ticket at or above the bound and stays 'p'. On an empty
-- stream the bound is the call's first ticket (seq as the call found it,
-- + 1), not the current seq + 1: a packed entry is XADDed only after the
-- loop, so the claims granted so far in this call are in no entry yet, and
-- they are pending.
local bound = nil
local function shown(rec)
  if string.byte(rec, -1) ~= 112 then -- 112: 'p'
    return rec
  end
  if not bound then
    local first = redis.call('XRANGE', q, '-', '+', 'COUNT', 1)
    bound = seq0 + 1
    if first[1] then
      local f = first[1][2]
      bound = 0
      for k = 1, #f, 2 do
        -- 'm': a packed entry, its first line "<user> <ticket> <qty>"; 'r' and
        -- 't': the shapes before it (the ticket first)
        if f[k] == 'm' then
          bound = tonumber(string.match(f[k + 1], '^%S+ (%d+)')) or 0
        elseif f[k] == 'r' or f[k] == 't' then
          bound = tonumber(string.match(f[k + 1], '^%d+')) or 0
        end
      end
    end
  end
  local t = tonumber(string.match(rec, '^(%d+) '))
  if t and t < bound then
    return string.sub(rec, 1, -2) .. 'c'
  end
  return rec
end

local out = {}
local granted = 0
local lines = {}
for i = 4, #ARGV, 2 do
  local user, qs = ARGV[i], ARGV[i + 1]
  local qty = tonumber(qs)
  local refused = refusal
  if refused == 'priority' then
    refused = redis.call('SISMEMBER', prio, user) == 0 and 'not_open' or nil
  end
  if gated and string.byte(admitted, (i - 2) / 2) ~= 49 then -- 49: '1'
    out[#out + 1] = 'not_admitted'
    out[#out + 1] = ''
  elseif not refused and qty <= maxpu and qty <= remaining then
    -- The common case costs one command: HSETNX both checks that the user
    -- holds no claim and records the new one (the per-user lock and the
    -- record in one step); its line joins the call's one entry.
    local t = fmt('%d', seq + 1)
    local rec = t .. ' ' .. qs .. ' ' .. now .. ' p'
    if redis.call('HSETNX', claims, user, rec) == 1 then
      seq = seq + 1
      remaining = remaining - qty
      granted = granted + 1
      if packed then
        lines[#lines + 1] = user .. ' ' .. t .. ' ' .. qs
      else
        redis.call('XADD', q, '*', 'u', user, 't', t, 'n', qs, 'c', now)
      end
      out[#out + 1] = 'N'
      out[#out + 1] = rec
    else
      out[#out + 1] = 'E'
      out[#out + 1] = shown(redis.call('HGET', claims, user))
    end
  else
    -- Refused, unless the user already holds a claim: that is answered
    -- whatever the event's state (a retry after sell-out gets its claim).
    local rec = redis.call('HGET', claims, user)
    if rec then
      out[#out + 1] = 'E'
      out[#out + 1] = shown(rec)
    else
      out[#out + 1] = refused or (qty > maxpu and 'limit_reached') or 'sold_out'
      out[#out + 1] = ''
    end
  end
end
if #lines > 0 then
  redis.call('XADD', q, '*', 'c', now, 'm', table.concat(lines, '\n'))
end
if granted > 0 then
  -- the event's version (watch, docs/API.md) moves once per call, not per
  -- claim, in the same HSET: it was read above, and nothing else runs
  -- between (what HINCRBY would do, one command less)
  redis.call('HSET', ev, 'remaining', fmt('%d', remaining), 'seq', fmt('%d', seq), 'ver', fmt('%d', (tonumber(e[9]) or 0) + 1))
end
return out
