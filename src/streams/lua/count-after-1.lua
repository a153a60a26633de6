-- groupLag's count of the entries after a group's position, when Redis has no lag for the group
-- (after an XDEL): counted on the server, the entries never sent to the process to be decoded.
-- Bounded per call, so that one call never holds the server for long on a big stream, and read
-- 100 entries at a time, so that big entries never take much of the server's memory at once.
-- On the first call the entries up to the position are counted too, in the same step: when they
-- are fewer (a group near the start of a long stream), the stream's length less them is the
-- answer, exact at that step, whatever trims the stream before or after it.
-- KEYS[1]  the stream
-- ARGV[1]  the id to count after (not counted itself)
-- ARGV[2]  at most this many entries counted by this call, on each side
-- ARGV[3]  the group's position, to count up to as well; '' for none
-- returns  { the entries counted after ARGV[1], the last counted one's id (ARGV[1] when none),
--          the entries after ARGV[3] as the length less those up to it (-1 when not counted,
--          or when those are ARGV[2] or more) }
local CHUNK = 100
local limit = tonumber(ARGV[2])

-- The entries after `after` up to `last`, at most `limit` of them, and the last one's id.
local function count(after, last)
  local counted = 0
  while counted < limit do
    local wanted = math.min(CHUNK, limit - counted)
    local entries = redis.call('XRANGE', KEYS[1], '(' .. after, last, 'COUNT', wanted)
    counted = counted + #entries
    if #entries > 0 then after = entries[#entries][1] end
    if #entries < wanted then break end
  end
  return counted, after
end

local counted, last = count(ARGV[1], '+')
local byLength = -1
if ARGV[3] ~= '' and counted == limit then
  local upTo = count('0-0', ARGV[3])
  if upTo < limit then byLength = redis.call('XLEN', KEYS[1]) - upTo end
end
return { counted, last, byLength }
