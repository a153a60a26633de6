-- The resend of a publish (SPEC §8): appends an entry to a stream unless an earlier send of the
-- same publish already did, as Kafka's idempotent producer does. Every send of a publish carries
-- its publish id as a field of the entry; the first send is a plain XADD, and only a resend
-- (after a timeout or a dropped connection, when the first may have been applied) runs this.
-- The earlier copy is looked for among the stream's latest ARGV[3] entries, newest first, in
-- pages of at most 100, and is found while it is still there: fewer than ARGV[3] entries were
-- added after it and trimming has not removed it.
-- KEYS[1]  the stream
-- ARGV[1]  the name of the publish id's field
-- ARGV[2]  this publish's id (unique per call, the same on every send of it)
-- ARGV[3]  how many of the latest entries to search
-- ARGV[4]  MAXLEN of the stream
-- ARGV[5]  '~' (approximate, whole macro nodes) or '=' (exact)
-- ARGV[6..] the entry's fields and values (the publish id's among them)
-- returns  the entry's id: the new one, or the one an earlier send of this publish added
local field, id = ARGV[1], ARGV[2]
local left = tonumber(ARGV[3])
local before = '+'
while left > 0 do
  local want = math.min(left, 100)
  local page = redis.call('XREVRANGE', KEYS[1], before, '-', 'COUNT', want)
  for _, entry in ipairs(page) do
    local fields = entry[2]
    for i = 1, #fields - 1, 2 do
      if fields[i] == field and fields[i + 1] == id then return entry[1] end
    end
  end
  if #page < want then break end
  left = left - #page
  before = '(' .. page[#page][1]
end
return redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[5], ARGV[4], '*', unpack(ARGV, 6))
