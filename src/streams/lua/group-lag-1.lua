-- What groupLag needs about one group, in one round trip.
-- KEYS[1]  the stream
-- ARGV[1]  group
-- returns  { pending count, Redis' lag (entries added but not yet read by the group; -1 when
--          Redis cannot tell, e.g. after XDEL, or before Redis 7), last-delivered id, the
--          stream's first id ('' when empty), its length }; {} when the stream or the group
--          does not exist
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  if info['name'] == ARGV[1] then
    local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
    local lag = info['lag']
    if not lag then lag = -1 end
    return { info['pending'], lag, info['last-delivered-id'], first[1] and first[1][1] or '',
      redis.call('XLEN', KEYS[1]) }
  end
end
return {}
