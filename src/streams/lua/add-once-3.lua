-- Appends an entry to a stream once per publish id: a send repeated after its reply was lost (a
-- timeout, a dropped connection) returns the id of the entry its first send added instead of
-- adding a second copy, as Kafka's idempotent producer does (SPEC §8).
-- The stream remembers the publish ids of its latest writes in two generations of at most
-- ARGV[4] ids each: a repeat is recognised while fewer than ARGV[4] other publishes to the same
-- stream came between its first send and itself, and for ARGV[5] ms after the stream's last
-- publish. Memory stays bounded by 2 * ARGV[4] ids per stream, whatever the publish rate.
-- KEYS[1]  the stream
-- KEYS[2]  its latest publish ids (hash publish id → entry id), in the stream's slot
-- KEYS[3]  the generation before (the same kind of hash), in the same slot
-- ARGV[1]  this publish's id (unique per call, the same on every send of it)
-- ARGV[2]  MAXLEN of the stream
-- ARGV[3]  '~' (approximate, whole macro nodes) or '=' (exact)
-- ARGV[4]  publish ids per generation
-- ARGV[5]  how long publish ids are remembered after the stream's last publish, in ms
-- ARGV[6..] the entry's fields and values
-- returns  the entry's id: the new one, or the one an earlier send of this publish added
local earlier = redis.call('HGET', KEYS[2], ARGV[1]) or redis.call('HGET', KEYS[3], ARGV[1])
if earlier then return earlier end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], ARGV[2], '*', unpack(ARGV, 6))
-- RENAME keeps the full generation's expiry: it is forgotten ARGV[5] ms after its last write.
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then redis.call('RENAME', KEYS[2], KEYS[3]) end
redis.call('HSET', KEYS[2], ARGV[1], id)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return id
