-- Adds to a counter, and gives it a TTL only when it has none (a TTL is never extended).
-- One step, so calls on one key stay in order and a retry can never see half of it.
-- KEYS[1]  the counter
-- ARGV[1]  by: the step
-- ARGV[2]  TTL in ms to give a counter that has no expiry; '' for none
-- ARGV[3]  'float': when the counter or the step is not an integer, add as INCRBYFLOAT does;
--          anything else (or absent): INCRBY only
-- returns  the new value: an integer, or the text of a fractional value (INCRBYFLOAT's reply)
local value
if ARGV[3] == 'float' then
  value = redis.pcall('INCRBY', KEYS[1], ARGV[1])
  if type(value) == 'table' and value.err then
    if not string.find(value.err, 'not an integer', 1, true) then return value end
    value = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
  end
else
  value = redis.call('INCRBY', KEYS[1], ARGV[1])
end
if ARGV[2] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
