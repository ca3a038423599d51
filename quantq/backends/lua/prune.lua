-- Forget finished jobs whose TTL has passed: their keys expired already; tidy the indexes.
local n = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', B .. 'exp', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))) do
  local cut = string.find(member, '\n', 1, true)
  local id, task = string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
  redis.call('ZREM', B .. 'exp', member)
  -- a key that still exists is a new job under a reused id: it keeps its index entries
  if redis.call('EXISTS', jkey(id)) == 0 then
    redis.call('ZREM', skey('completed'), id)
    redis.call('ZREM', skey('failed'), id)
    redis.call('ZREM', skey('cancelled'), id)
    redis.call('ZREM', B .. 'task:' .. task, id)
    n = n + 1
  end
end
return n
