-- Running jobs whose lease ran out: -> queued for another attempt, or -> failed (WorkerLost)
-- when none is left.  ARGV[4] = the WorkerLost error JSON, ARGV[5] = most per call.
local n = 0
local woke = false
for _, id in ipairs(redis.call('ZRANGEBYSCORE', B .. 'run', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[5]))) do
  redis.call('ZREM', B .. 'run', id)
  local key = jkey(id)
  local h = redis.call('HMGET', key, 'status', 'attempts', 'max_attempts', 'priority', 'seq', 'created_at', 'task', 'failure_ttl', 'lease')
  if h[1] == 'running' and tonumber(h[9]) <= NOW then
    n = n + 1
    redis.call('HDEL', key, 'token', 'lease')
    if tonumber(h[2]) >= tonumber(h[3]) then
      redis.call('HSET', key, 'status', 'failed', 'error', ARGV[4], 'finished_at', NOWS, 'updated_at', NOWS)
      restatus(id, 'running', 'failed', h[6])
      finish_ttl(id, h[7], h[8])
      event('failed', id, h[7], 'error', cjson.decode(ARGV[4]))
    else
      redis.call('HSET', key, 'status', 'queued', 'updated_at', NOWS)
      restatus(id, 'running', 'queued', h[6])
      make_ready(id, h[4], h[5])
      woke = true
      event('requeued', id, h[7], 'reason', 'lease expired')
    end
  end
end
if woke then wake() end
finish()
return n
