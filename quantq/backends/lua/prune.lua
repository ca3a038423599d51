-- Forget finished jobs whose TTL has passed: their keys expired already; tidy the indexes.
local n = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', B .. 'exp', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))) do
  local cut = string.find(member, '\n', 1, true)
  local id, task = string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
  redis.call('ZREM', B .. 'exp', member)
  -- a key that still exists is a new job under a reused id: it keeps the index entries of its
  -- own status and task; the expired one's entries go
  local live = redis.call('HMGET', jkey(id), 'status', 'task')
  for _, s in ipairs({'completed', 'failed', 'cancelled'}) do
    if s ~= live[1] then redis.call('ZREM', skey(s), id) end
  end
  if live[2] ~= task then redis.call('ZREM', B .. 'task:' .. task, id) end
  if not live[1] then n = n + 1 end
end
return n
