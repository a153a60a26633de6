-- After a failed requeue: drops the claim if it is still this recoverer's (compare-and-delete),
-- so the next pass of any recoverer hands the orphan out again.
-- KEYS[1]  the orphan's claim
-- ARGV[1]  the claim's token
-- returns  1 when it dropped the claim, 0 when the claim was not (or no longer) this token's
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
