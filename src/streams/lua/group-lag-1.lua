-- What groupLag needs about one group, in one round trip.
-- KEYS[1]  the stream
-- ARGV[1]  group
-- returns  { pending count, Redis' lag (entries added but not yet read by the group; -1 when
--          Redis cannot tell, e.g. after XDEL, or before Redis 7), last-delivered id, the
--          stream's first id and last id ('' when empty), its length, the entries ever added
--          to it (-1 before Redis 7) }; {} when the stream or the group does not exist
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  if info['name'] == ARGV[1] then
    local stream = {}
    local reply = redis.call('XINFO', 'STREAM', KEYS[1])
    for i = 1, #reply, 2 do stream[reply[i]] = reply[i + 1] end
    local first = stream['first-entry']
    local last = stream['last-entry']
    return { info['pending'], info['lag'] or -1, info['last-delivered-id'],
      first and first[1] or '', last and last[1] or '', stream['length'],
      stream['entries-added'] or -1 }
  end
end
return {}
