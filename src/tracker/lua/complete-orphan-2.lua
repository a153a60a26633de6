-- After a successful requeue: forgets the orphan's record and its claim, unless another
-- recoverer holds the claim now.
-- KEYS[1]  the session's jobs (hash jobId → record)
-- KEYS[2]  the orphan's claim
-- ARGV[1]  jobId
-- ARGV[2]  the claim's token
-- returns  1 when it removed the record (also when the claim had expired but nobody else took
--          it), 0 when another recoverer holds the claim (nothing changes), -1 when the record
--          was gone already: completed elsewhere while requeue ran (another recoverer, or the
--          job's own instance finishing it), or by an earlier send of this same completion
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[2] then return 0 end
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
if owner then redis.call('DEL', KEYS[2]) end
if removed == 1 then return 1 end
return -1
