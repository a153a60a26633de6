-- Checks a counter that a plain INCRBY left near or past 2^53 - 1 (see src/store/counter.ts):
-- past it either way, that step is undone and refused, as the increment script refuses it.
-- KEYS[1]  the counter
-- ARGV[1]  by: the step INCRBY applied
-- returns  the counter's text (exact, whatever a client's integer decoding does), or the error
--          "ERR value is not an integer or out of range" with the step undone
local SAFE = 9007199254740991
local text = redis.call('GET', KEYS[1])
local value = tonumber(text)
if value and (value > SAFE or value < -SAFE) then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return redis.error_reply('ERR value is not an integer or out of range')
end
return text
