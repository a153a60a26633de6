-- An atomic claim (setIfNotExists) that recognises its own earlier win: a call whose first send
-- timed out is re-sent with the same token, and learns that the claim is its own (SPEC §8).
-- KEYS[1]  the value key
-- KEYS[2]  its token key, in the same slot: the token of the last write that must be recognised
-- ARGV[1]  the value text
-- ARGV[2]  this call's token (unique per call, the same on every send of it)
-- ARGV[3]  TTL of the value in ms; '' for none
-- ARGV[4]  TTL of the token in ms (outlives any retry of the call)
-- returns  1 when this call holds the claim (won now, or by an earlier send), 0 when another does
if redis.call('GET', KEYS[2]) == ARGV[2] then return 1 end
local won
if ARGV[3] == '' then
  won = redis.call('SET', KEYS[1], ARGV[1], 'NX')
else
  won = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3], 'NX')
end
if not won then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
return 1
