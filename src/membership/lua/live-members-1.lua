-- The members whose expiry is after now, by the server's clock (TIME), as heartbeat-1.lua sets it.
-- KEYS[1]  the members (sorted set id → expiry, ms since epoch)
-- returns  the live member ids, in any order
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
