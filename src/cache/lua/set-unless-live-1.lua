-- A write with unlessExist: SET unless the key holds a live value. A cache entry whose exact
-- expiry (in its header, see src/cache/entry.ts) is at or before `now` is no value, though Redis
-- keeps it longer (its TTL is padded for raceConditionTtl): a plain SET NX would refuse to write
-- over an entry every read already misses. Anything else under the key (a plain string, a
-- counter, another type) is a value, as SET NX sees it, except the text whose SHA1 is ARGV[4]
-- (get-identified-1.lua): an entry the caller found invalidated by its tags, or corrupt (every
-- read misses it), which it may replace while it is still what the key holds.
-- KEYS[1]  the entry
-- ARGV[1]  now: epoch ms, on the cache's clock
-- ARGV[2]  the value
-- ARGV[3]  its TTL in ms, or '' for none
-- ARGV[4]  (optional) the SHA1 (hex) of the stored text that is no value
-- returns  'OK', or nil when a live value is there
local EXPIRES = 2
local function expired(text, now)
  if #text < 4 or string.sub(text, 1, 3) ~= '\0rf' then return false end
  local flags = string.byte(text, 4) - 64
  if flags < 0 or flags >= 32 or math.floor(flags / EXPIRES) % 2 ~= 1 then return false end
  local dot = string.find(text, '.', 5, true)
  local at = dot and tonumber(string.sub(text, 5, dot - 1), 36)
  return at ~= nil and at <= now
end

if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return false end
  local current = redis.call('GET', KEYS[1])
  local stale = ARGV[4]
  if (stale == nil or redis.sha1hex(current) ~= stale) and not expired(current, tonumber(ARGV[1])) then
    return false
  end
end
if ARGV[3] == '' then
  return redis.call('SET', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
