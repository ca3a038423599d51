-- Outcomes in one call: ARGV[4] = count, then per outcome id, token, kind, payload, retry_in.
-- kind 'c' completes (payload: result JSON), 'f' fails for good, 'r' schedules a retry
-- (payload: error JSON).  Each entry of the reply is the stored hash, or 0 when stale.
local out, i = {}, 5
for j = 1, tonumber(ARGV[4]) do
  local id, token, kind, payload, retry_in = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  if not held(id, token) then
    out[j] = 0
  else
    local key = jkey(id)
    local h = redis.call('HMGET', key, 'created_at', 'task', 'result_ttl', 'failure_ttl', 'attempts')
    redis.call('HDEL', key, 'token', 'lease')
    redis.call('ZREM', B .. 'run', id)
    if kind == 'c' then
      redis.call('HSET', key, 'status', 'completed', 'result', payload, 'progress', '100', 'finished_at', NOWS, 'updated_at', NOWS)
      restatus(id, 'running', 'completed', h[1])
      out[j] = redis.call('HGETALL', key)
      finish_ttl(id, h[2], h[3])
      event('completed', id, {task = h[2]})
    elseif kind == 'f' then
      redis.call('HSET', key, 'status', 'failed', 'error', payload, 'finished_at', NOWS, 'updated_at', NOWS)
      restatus(id, 'running', 'failed', h[1])
      out[j] = redis.call('HGETALL', key)
      finish_ttl(id, h[2], h[4])
      event('failed', id, {task = h[2], error = cjson.decode(payload)})
    else
      local at = NOW + tonumber(retry_in)
      redis.call('HSET', key, 'status', 'scheduled', 'error', payload, 'run_at', fmt(at), 'updated_at', NOWS)
      restatus(id, 'running', 'scheduled', h[1])
      redis.call('ZADD', B .. 'sched', at, id)
      out[j] = redis.call('HGETALL', key)
      event('retrying', id, {task = h[2], attempt = tonumber(h[5]), run_at = at})
    end
  end
end
publish()
return out
