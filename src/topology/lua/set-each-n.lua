-- The SETs of many keys in one step, each answered as its own SET would.
-- KEYS[1..n] the keys
-- ARGV       per key, three values: the value; its TTL in ms, or '' for none; '1' for NX, else ''
-- returns    per key: 'OK', nil when NX found the key, or a one-element array holding the error
--            SET answered
local out = {}
for i = 1, #KEYS do
  local value, ttl, nx = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local reply
  if ttl == '' and nx == '' then
    reply = redis.pcall('SET', KEYS[i], value)
  elseif ttl == '' then
    reply = redis.pcall('SET', KEYS[i], value, 'NX')
  elseif nx == '' then
    reply = redis.pcall('SET', KEYS[i], value, 'PX', ttl)
  else
    reply = redis.pcall('SET', KEYS[i], value, 'PX', ttl, 'NX')
  end
  if type(reply) == 'table' and reply.err then
    out[i] = { reply.err }
  elseif type(reply) == 'table' and reply.ok then
    out[i] = reply.ok
  else
    out[i] = reply
  end
end
return out
