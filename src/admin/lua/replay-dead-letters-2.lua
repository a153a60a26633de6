-- Replays dead letters (SPEC §5): each one that is still in the dead-letter channel is appended
-- to the stream it came from, addressed to the group that gave up on it, and removed from the
-- channel. Both in one script is what makes a replay exactly once: of two replays of the same
-- letter at once (two operators, two dashboards), only the first finds it, and nothing can
-- leave it appended but not removed. Appended before it is removed: a script that fails half
-- way keeps what it did (Redis has no rollback), so an XADD refused (a WRONGTYPE main stream,
-- OOM) must leave its letter in the channel, not deleted; the letters before it are replayed.
-- KEYS[1]  the dead-letter channel's stream
-- KEYS[2]  the stream to replay to (the main stream)
-- ARGV[1]  the envelope's field name
-- ARGV[2]  the field that addresses a replay to its group
-- ARGV[3..] per letter, three values: its id in the channel, its envelope (JSON), its group
-- returns  how many letters this call replayed (those it found in the channel)
local replayed = 0
for i = 3, #ARGV - 2, 3 do
  local id = ARGV[i]
  if #redis.call('XRANGE', KEYS[1], id, id) == 1 then
    redis.call('XADD', KEYS[2], '*', ARGV[1], ARGV[i + 1], ARGV[2], ARGV[i + 2])
    redis.call('XDEL', KEYS[1], id)
    replayed = replayed + 1
  end
end
return replayed
