-- A member's heartbeat: alive until now + ttl by the server's clock (TIME), so members on
-- machines whose clocks disagree still expire exactly ttl after their last heartbeat. Drops
-- members already expired (the set never grows with the dead) and keeps the key itself alive
-- as long as its longest-lived member.
-- KEYS[1]  the members (sorted set id → expiry, ms since epoch)
-- ARGV[1]  the member id
-- ARGV[2]  ttl in ms
-- returns  0
local clock = redis.call('TIME')
local seconds, micros = tonumber(clock[1]), tonumber(clock[2])
local now = seconds * 1000 + math.floor(micros / 1000)
-- The expiry counts from the heartbeat's millisecond rounded up: rounded down (as `now`), a
-- member was seen dead up to 1 ms before its ttl had passed (live-members-1.lua reads `now`).
local expiry = seconds * 1000 + math.ceil(micros / 1000) + tonumber(ARGV[2])
-- Numbers go to Redis as text: a Lua number would be written with 14 digits ('1e+14' for
-- 100000000000000), which PEXPIRE refuses and which rounds a score.
-- The key outlives its longest-lived member (its expiry is at most now + ttl + 1).
local keep = expiry - now
-- For a member already in the set, its expiry is written first, even when it needs no
-- extending: a full Redis (maxmemory under noeviction) refuses a script's first write that may
-- use memory (the ZADD), not one after the script has written (not to leave it half done), and
-- PEXPIRE uses none. So a live member's beat goes through there, moving its score in place, and
-- it does not drop out of live() while it runs (helper-314); a new member is refused there.
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 and redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], string.format('%d', math.max(pttl, keep)))
end
redis.call('ZADD', KEYS[1], string.format('%d', expiry), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
-- A key this ZADD made (or one without an expiry) lives as long as this member.
if pttl <= 0 then redis.call('PEXPIRE', KEYS[1], string.format('%d', keep)) end
return 0
