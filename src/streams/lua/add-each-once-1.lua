-- Appends entries to a stream, each unless an entry with its publish id is among the stream's
-- latest ARGV[2] entries, with one look for them all made before any is appended. For the resend
-- of a publish (SPEC §8: its first send may have been applied, see publish-ids.ts), as Kafka's
-- idempotent producer: the earlier copy is found while fewer than ARGV[2] entries were added
-- after it and trimming has not removed it. For a dead-letter replay's page
-- (admin/dead-letters.ts), whose letters a replay that died half way, or one running at the same
-- time, may have appended already.
-- KEYS[1]  the stream
-- ARGV[1]  the name of the publish id's field
-- ARGV[2]  how many of the latest entries to search (newest first, in pages of at most 100)
-- ARGV[3]  MAXLEN of the stream
-- ARGV[4]  '~' (approximate, whole macro nodes) or '=' (exact)
-- ARGV[5..] per entry: its publish id, the number n of its field and value strings, those n
-- returns  per entry, its id: the new one, or the one an earlier send of it added
local field = ARGV[1]
local found = {}
local wanted = {}
local i = 5
while i <= #ARGV do
  wanted[ARGV[i]] = true
  i = i + 2 + tonumber(ARGV[i + 1])
end
local left = tonumber(ARGV[2])
local before = '+'
while left > 0 do
  local want = math.min(left, 100)
  local page = redis.call('XREVRANGE', KEYS[1], before, '-', 'COUNT', want)
  for _, entry in ipairs(page) do
    local fields = entry[2]
    for j = 1, #fields - 1, 2 do
      local id = fields[j + 1]
      if fields[j] == field and wanted[id] and not found[id] then found[id] = entry[1] end
    end
  end
  if #page < want then break end
  left = left - #page
  before = '(' .. page[#page][1]
end
local ids = {}
i = 5
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 1])
  if not found[id] then
    found[id] = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], ARGV[3], '*', unpack(ARGV, i + 2, i + 1 + n))
  end
  ids[#ids + 1] = found[id]
  i = i + 2 + n
end
return ids
