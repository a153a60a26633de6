-- GET, with the SHA1 of the value's bytes: what tells them apart from any others for
-- set-unless-live-1.lua's ARGV[4]. The text a client decodes from the bytes may not keep them
-- (a character cut in two becomes U+FFFD), so that text cannot be compared with what is stored.
-- KEYS[1]  the key
-- returns  {value, its SHA1 in hex}, or nil when the key is missing
local value = redis.call('GET', KEYS[1])
if not value then return false end
return {value, redis.sha1hex(value)}
