--[[
lb_ack.lua: board stream entries written to MariaDB, released in one step
(worker/wk_lb_drain.c).

KEYS[1] tk:lb:{B}:q   the board's stream
ARGV[1] consumer group ("wk")
ARGV[2..] entry ids (at most 1000 per call: the caller chunks)

XACK then XDEL, atomically: a worker killed between two separate commands
would leave an entry acked but still in the stream, never delivered again
and never deleted, and the stream's length (which tk-import and the rebuild
read as "entries not yet in MariaDB") would stay above 0 for good.
Returns the count acked.
]]
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return n
