-- Releases the fill lock of a cache entry only if it still holds this fill's token: after
-- lockTimeout the lock may have expired and been taken by another process, whose lock this must
-- not remove. DEL, not UNLINK: the value is a short token, freed at once either way.
-- KEYS[1]  the fill lock
-- ARGV[1]  this fill's token
-- returns  1 when the lock was released, 0 when it was not ours (or gone)
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
