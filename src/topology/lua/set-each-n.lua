-- The SETs of many keys in one step, each answered as its own SET would be. (Steps where none
-- has a TTL or NX are one MSET instead, sent by tick-batch.ts.)
-- KEYS[1..n] the keys
-- ARGV       per key, three values: the value; its TTL in ms, or '' for none; '1' for NX, else ''
-- returns    per key: 'OK', or nil when NX found the key
local out = {}
for i = 1, #KEYS do
  local args = { KEYS[i], ARGV[3 * i - 2] }
  if ARGV[3 * i - 1] ~= '' then
    args[#args + 1] = 'PX'
    args[#args + 1] = ARGV[3 * i - 1]
  end
  if ARGV[3 * i] ~= '' then args[#args + 1] = 'NX' end
  out[i] = redis.call('SET', unpack(args)) and 'OK' or false
end
return out
