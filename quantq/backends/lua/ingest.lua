-- Take foreign submissions off the inbox's tail (oldest first), each only if it is still the
-- tail (another worker may have taken it first), so no submission is ever lost or doubled.
-- ARGV[4] = count; per item: raw, kind, then for 'job' the insert_job layout, for 'dead'
-- reason, id ('' when unknown), task, error JSON, failure_ttl.  Reply: how many were taken.
local inbox = B .. 'inbox'
local i, done, woke = 5, 0, false
for _ = 1, tonumber(ARGV[4]) do
  local raw, kind = ARGV[i], ARGV[i + 1]
  i = i + 2
  while redis.call('LINDEX', inbox, -1) == WAKE do redis.call('RPOP', inbox) end
  if redis.call('LINDEX', inbox, -1) ~= raw then break end
  redis.call('RPOP', inbox)
  done = done + 1
  if kind == 'job' then
    local rec, ready
    i, rec, ready = insert_job(i)
    woke = woke or ready
  else
    local reason, id, task, err, ttl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    i = i + 5
    redis.call('LPUSH', B .. 'dead', cjson.encode({raw = raw, reason = reason, at = NOW, id = id}))
    redis.call('LTRIM', B .. 'dead', 0, 9999)
    if id ~= '' and redis.call('EXISTS', jkey(id)) == 0 then
      -- the producer reads its result key and finds why its submission was refused
      local seq = redis.call('INCR', B .. 'seq')
      redis.call('HSET', jkey(id), 'v', '1', 'id', id, 'task', task, 'queue', QUEUE, 'priority', '5',
        'status', 'failed', 'attempts', '0', 'max_attempts', '1', 'created_at', NOWS, 'updated_at', NOWS,
        'finished_at', NOWS, 'seq', seq, 'error', err, 'result_ttl', ttl, 'failure_ttl', ttl)
      restatus(id, nil, 'failed', NOWS)
      redis.call('ZADD', B .. 'task:' .. task, NOW, id)
      finish_ttl(id, task, ttl)
      event('failed', id, task, 'error', cjson.decode(err))
    end
  end
end
if woke then wake() end
finish()
return done
