-- The PTTL of each key, in one step: what a near cache reads beside its fills' values, since
-- Redis tells it of an expiry only once it deletes the key, lazily (src/cache/near.ts).
-- KEYS[1..n] the keys (of one slot on a cluster)
-- returns    per key its PTTL in ms: -1 without expiry, -2 missing
local out = {}
for i = 1, #KEYS do out[i] = redis.call('PTTL', KEYS[i]) end
return out
