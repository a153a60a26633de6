-- The SETs of many keys in one step, each answered as its own SET would be.
-- Without TTL or NX on any of them, one MSET writes them all (a SET per key from Lua costs
-- several times more).
-- KEYS[1..n] the keys
-- ARGV       per key, three values: the value; its TTL in ms, or '' for none; '1' for NX, else ''
-- returns    per key: 'OK', or nil when NX found the key
local plain = true
for i = 1, #KEYS do
  if ARGV[3 * i - 1] ~= '' or ARGV[3 * i] ~= '' then
    plain = false
    break
  end
end
local out = {}
if plain then
  local pairs = {}
  for i = 1, #KEYS do
    pairs[2 * i - 1] = KEYS[i]
    pairs[2 * i] = ARGV[3 * i - 2]
    out[i] = 'OK'
  end
  redis.call('MSET', unpack(pairs))
  return out
end
for i = 1, #KEYS do
  local value, ttl, nx = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local reply
  if ttl == '' and nx == '' then
    reply = redis.call('SET', KEYS[i], value)
  elseif ttl == '' then
    reply = redis.call('SET', KEYS[i], value, 'NX')
  elseif nx == '' then
    reply = redis.call('SET', KEYS[i], value, 'PX', ttl)
  else
    reply = redis.call('SET', KEYS[i], value, 'PX', ttl, 'NX')
  end
  out[i] = reply and 'OK' or false
end
return out
