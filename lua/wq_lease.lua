--[[
wq_lease.lua: take or renew the admitter's lease (gateway/queue/gw_admitter.h).

KEYS[1] tk:wq:lease     ARGV[1] this gateway's id     ARGV[2] expiry, ms

Returns 1 when the lease is this gateway's for the next ARGV[2] ms (renewed,
or taken because nobody held it), 0 when another gateway holds it. One
script, so "is it free, then take it" cannot interleave with another
gateway's attempt: at most one holder at any time.
]]
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
