-- The SETs of many keys in one step, each answered as its own SET would be. (Steps where none
-- has a TTL are one MSET instead, sent by tick-batch.ts.)
-- KEYS[1..n] the keys
-- ARGV       per key, two values: the value; its TTL in ms, or '' for none
-- returns    per key: 'OK'
local out = {}
for i = 1, #KEYS do
  local value, ttl = ARGV[2 * i - 1], ARGV[2 * i]
  if ttl == '' then
    out[i] = redis.call('SET', KEYS[i], value) and 'OK'
  else
    out[i] = redis.call('SET', KEYS[i], value, 'PX', ttl) and 'OK'
  end
end
return out
