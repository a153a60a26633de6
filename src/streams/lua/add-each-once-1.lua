-- Appends entries to a stream, each unless an entry with its publish id is among the stream's
-- latest ARGV[2] entries (what add-once-1.lua does for one resend), with one look for them all:
-- a dead-letter replay's page (admin/dead-letters.ts), whose letters a replay that died half way,
-- or one running at the same time, may have appended already. The look is made before any of
-- them is appended. No MAXLEN: trimming is left to the application's own publishes.
-- KEYS[1]  the stream
-- ARGV[1]  the name of the publish id's field
-- ARGV[2]  how many of the latest entries to search
-- ARGV[3..] per entry: its publish id, the number n of its field and value strings, those n
-- returns  how many entries it appended
local field = ARGV[1]
local wanted = {}
local i = 3
while i <= #ARGV do
  wanted[ARGV[i]] = false
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
      if fields[j] == field and wanted[fields[j + 1]] == false then wanted[fields[j + 1]] = true end
    end
  end
  if #page < want then break end
  left = left - #page
  before = '(' .. page[#page][1]
end
local appended = 0
i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  if not wanted[ARGV[i]] then
    redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 2, i + 1 + n))
    appended = appended + 1
  end
  i = i + 2 + n
end
return appended
