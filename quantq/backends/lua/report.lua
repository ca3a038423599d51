-- Outcomes in one call: ARGV[4] = count, then per outcome id, token, kind, payload, retry_in.
-- kind 'c' completes (payload: result JSON), 'f' fails for good, 'r' schedules a retry
-- (payload: error JSON).  Reply per outcome: {finished_or_updated_at, run_at or ''}, or 0
-- when the claim is no longer held (the caller knows the rest of the record).
local out, i = {}, 5
for j = 1, tonumber(ARGV[4]) do
  local id, token, kind, payload, retry_in = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  local key = jkey(id)
  local h = redis.call('HMGET', key, 'status', 'token', 'lease', 'created_at', 'task', 'result_ttl', 'failure_ttl', 'attempts')
  if h[1] ~= 'running' or h[2] ~= token or tonumber(h[3]) <= NOW then
    out[j] = 0
  else
    redis.call('HDEL', key, 'token', 'lease')
    zchange(B .. 'run', id, false)
    if kind == 'c' then
      redis.call('HSET', key, 'status', 'completed', 'result', payload, 'progress', '100', 'finished_at', NOWS, 'updated_at', NOWS)
      restatus(id, 'running', 'completed', h[4])
      finish_ttl(id, h[5], h[6])
      batched_event('completed', id, h[5])
      out[j] = {NOWS, ''}
    elseif kind == 'f' then
      redis.call('HSET', key, 'status', 'failed', 'error', payload, 'finished_at', NOWS, 'updated_at', NOWS)
      restatus(id, 'running', 'failed', h[4])
      finish_ttl(id, h[5], h[7])
      event('failed', id, h[5], 'error', cjson.decode(payload))
      out[j] = {NOWS, ''}
    else
      local at = fmt(NOW + tonumber(retry_in))
      redis.call('HSET', key, 'status', 'scheduled', 'error', payload, 'run_at', at, 'updated_at', NOWS)
      restatus(id, 'running', 'scheduled', h[4])
      zchange(B .. 'sched', id, at)
      event('retrying', id, h[5], 'attempt', tonumber(h[8]), 'run_at', tonumber(at))
      out[j] = {NOWS, at}
    end
  end
end
finish()
return out
