-- The GETs of many keys in one step, each answered as its own GET would be: unlike MGET, a key
-- holding another type is GET's WRONGTYPE error, not a nil read as "missing" (SPEC §3).
-- It only reads, so it runs wherever a GET would, a replica included. (No `#!lua flags=no-writes`
-- line: Redis before 7 cannot compile one.)
-- KEYS[1..n] the keys
-- ARGV       none
-- returns    per key: its value, nil when it does not exist, or a one-element array holding
--            the error GET answered (values are strings, so an array is never a value)
local out = {}
for i = 1, #KEYS do
  local reply = redis.pcall('GET', KEYS[i])
  if type(reply) == 'table' and reply.err then
    out[i] = { reply.err }
  else
    out[i] = reply
  end
end
return out
