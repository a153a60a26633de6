-- Takes the fill lock of a cache entry, recognising its own earlier take: a lock command whose
-- reply was lost (a timeout, a dropped connection) is re-sent with the same token and learns that
-- the lock is already its own, instead of waiting for itself until the lock expires.
-- KEYS[1]  the fill lock
-- ARGV[1]  this fill's token (unique per fill, the same on every send)
-- ARGV[2]  the lock's TTL in ms (lockTimeout)
-- returns  1 when this token holds the lock, 0 when another does
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
