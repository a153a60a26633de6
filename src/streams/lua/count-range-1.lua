-- Counts a stream's entries in a range, on the server: groupLag's count when Redis has no lag
-- for the group (after an XDEL), without sending the entries to the process to be decoded.
-- Bounded per call, so that one call never holds the server for long on a big stream, and read
-- 100 entries at a time, so that big entries never take much of the server's memory at once.
-- KEYS[1]  the stream
-- ARGV[1]  the id to count after (not counted itself)
-- ARGV[2]  the last id to count ('+': to the end)
-- ARGV[3]  at most this many entries counted by this call
-- returns  { the entries counted, the last counted one's id (ARGV[1] when none) }
local CHUNK = 100
local after, last, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local counted = 0
while counted < limit do
  local wanted = math.min(CHUNK, limit - counted)
  local entries = redis.call('XRANGE', KEYS[1], '(' .. after, last, 'COUNT', wanted)
  counted = counted + #entries
  if #entries > 0 then after = entries[#entries][1] end
  if #entries < wanted then break end
end
return { counted, after }
