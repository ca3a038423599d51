-- Delete up to ARGV[4] jobs in the statuses ARGV[5..] (never running ones).  Reply: how many.
local limit = tonumber(ARGV[4])
local n = 0
for s = 5, #ARGV do
  local status = ARGV[s]
  if status ~= 'running' then
    for _, id in ipairs(redis.call('ZRANGE', skey(status), 0, limit - n - 1)) do
      local key = jkey(id)
      local task = redis.call('HGET', key, 'task')
      redis.call('ZREM', skey(status), id)
      redis.call('ZREM', B .. 'ready', id)
      redis.call('ZREM', B .. 'sched', id)
      if task then
        redis.call('ZREM', B .. 'task:' .. task, id)
        redis.call('ZREM', B .. 'exp', id .. '\n' .. task)
      end
      redis.call('DEL', key)
      n = n + 1
    end
    if n >= limit then break end
  end
end
return n
