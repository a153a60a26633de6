-- A member's heartbeat: alive until now + ttl by the server's clock (TIME), so members on
-- machines whose clocks disagree still expire exactly ttl after their last heartbeat. Drops
-- members already expired (the set never grows with the dead) and keeps the key itself alive
-- as long as its longest-lived member.
-- KEYS[1]  the members (sorted set id → expiry, ms since epoch)
-- ARGV[1]  the member id
-- ARGV[2]  ttl in ms
-- returns  0
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
-- Numbers go to Redis as text: a Lua number would be written with 14 digits ('1e+14' for
-- 100000000000000), which PEXPIRE refuses and which rounds a score.
redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
