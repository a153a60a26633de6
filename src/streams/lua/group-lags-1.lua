-- What groupLag needs about a stream's groups, in one round trip: one group (groupLag), or every
-- group at once (redfleet status, the dashboard: one call per group cost XINFO GROUPS' walk of
-- every group each time, so 1,000 groups took 1,000 times 1,000, helper-318).
-- KEYS[1]  the stream
-- ARGV[1]  the group; '' for every group
-- returns  {} when the stream does not exist; else { the stream's first id and last id ('' when
--          empty), its length, the entries ever added to it (-1 before Redis 7) }, followed for
--          each group asked for that exists by { name, pending count, consumer count, Redis' lag
--          (entries added but not yet read by the group; -1 when Redis cannot tell, e.g. after
--          XDEL, or before Redis 7), last-delivered id }
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local stream = {}
local reply = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #reply, 2 do stream[reply[i]] = reply[i + 1] end
local first = stream['first-entry']
local last = stream['last-entry']
local result = { first and first[1] or '', last and last[1] or '', stream['length'],
  stream['entries-added'] or -1 }
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  if ARGV[1] == '' or info['name'] == ARGV[1] then
    result[#result + 1] = info['name']
    result[#result + 1] = info['pending']
    result[#result + 1] = info['consumers']
    result[#result + 1] = info['lag'] or -1
    result[#result + 1] = info['last-delivered-id']
  end
end
return result
