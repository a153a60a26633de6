-- The write of an optimistic update: applied only if nobody changed the key since it was read,
-- and recognised as already applied when a send whose reply was lost is repeated (SPEC §8).
-- KEYS[1]  the value key
-- KEYS[2]  its token key, in the same slot: the token of the last write that must be recognised
-- ARGV[1]  '1' when the key was missing when read
-- ARGV[2]  the text read (when ARGV[1] is not '1')
-- ARGV[3]  '1' to delete the key instead of writing
-- ARGV[4]  the text to write
-- ARGV[5]  TTL in ms for the written value; '' keeps the key's expiry
-- ARGV[6]  this write's token (unique per write, the same on every send of it)
-- ARGV[7]  TTL of the token in ms (outlives any retry of the write)
-- returns  1 when written (now, or by an earlier send of this write), 0 when the key changed
if redis.call('GET', KEYS[2]) == ARGV[6] then return 1 end
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
end
redis.call('SET', KEYS[2], ARGV[6], 'PX', ARGV[7])
return 1
