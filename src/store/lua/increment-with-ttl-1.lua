-- Adds to a counter, and gives it a TTL only when it has none (a TTL is never extended).
-- One step, so calls on one key stay in order and a retry can never see half of it.
-- A sum past 2^53 - 1 either way is refused and the step undone: a JavaScript number cannot
-- hold it exactly, so the counter would read back changed (as the memory topology refuses it).
-- KEYS[1]  the counter
-- ARGV[1]  by: the step
-- ARGV[2]  TTL in ms to give a counter that has no expiry; '' for none
-- ARGV[3]  'float': add as INCRBYFLOAT does (an integer counter and step give the same sum
--          as INCRBY, a fractional one too); anything else (or absent): INCRBY only
-- returns  the text of the new value (an integer's digits exactly, or INCRBYFLOAT's reply);
--          the error "ERR value is not an integer or out of range" when the sum is not safe
local SAFE = 9007199254740991
local NOT_SAFE = 'ERR value is not an integer or out of range'
local value
if ARGV[3] == 'float' then
  value = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
  if math.abs(tonumber(value)) > SAFE then
    local opposite = string.sub(ARGV[1], 1, 1) == '-' and string.sub(ARGV[1], 2) or '-' .. ARGV[1]
    redis.call('INCRBYFLOAT', KEYS[1], opposite)
    return redis.error_reply(NOT_SAFE)
  end
else
  value = redis.call('INCRBY', KEYS[1], ARGV[1])
  if value > SAFE or value < -SAFE then
    redis.call('DECRBY', KEYS[1], ARGV[1])
    return redis.error_reply(NOT_SAFE)
  end
  -- As text: an integer reply this close to 2^53 is decoded one off by some clients.
  value = string.format('%d', value)
end
if ARGV[2] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
