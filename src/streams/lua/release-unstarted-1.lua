-- Gives entries a stopping consumer was delivered but never started back to the group: each
-- still held by that consumer gets an idle time long past any min-idle (so the next XAUTOCLAIM
-- of any consumer takes it) and its delivery count restored to what it was before this
-- delivery, so an entry nobody tried is not counted as a failed attempt.
-- KEYS[1]  the stream
-- ARGV[1]  group
-- ARGV[2]  consumer
-- ARGV[3..] pairs of (entry id, delivery count to restore)
-- returns  0
for i = 3, #ARGV, 2 do
  local info = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if info[1] and info[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i],
      'IDLE', 1000000000000, 'RETRYCOUNT', ARGV[i + 1], 'JUSTID')
  end
end
return 0
