-- Claim up to ARGV[4] jobs: highest priority, then oldest.  ARGV[5] lease seconds,
-- ARGV[6] worker id, ARGV[7] hostname, ARGV[8] token base (random per call).
-- Returns {inbox length, next due time or '', now, lease expiry, job, job, ...}: per job the
-- fields of CLAIMED (below) as they were before the claim, the first replaced by k (its token is
-- ARGV[8] .. '.' .. k) and the attempt count already raised; the caller knows what else the
-- claim wrote (status, worker, times, progress, lease), so no second read of the record.
-- due jobs are promoted first; one read tells whether any are due (and, usually, the next due time)
local due = next_due()
if due ~= '' and tonumber(due) <= 0 then
  promote(100)
  due = next_due()
end
local inbox = B .. 'inbox'
local CLAIMED = {'status', 'created_at', 'task', 'attempts', 'status_message', 'id', 'queue', 'args', 'priority',
  'max_attempts', 'timeout', 'run_at', 'finished_at', 'result', 'error', 'result_ttl', 'failure_ttl', 'meta',
  'parent_id', 'depends_on'}
local lease = NOW + tonumber(ARGV[5])
local leases = fmt(lease)
local out = {0, due, NOWS, leases}
local paused = redis.call('EXISTS', B .. 'paused') == 1
local emptied = paused -- nothing is left to hand out
if not paused then
  local popped = redis.call('ZPOPMIN', B .. 'ready', tonumber(ARGV[4]))
  emptied = #popped < 2 * tonumber(ARGV[4]) or redis.call('ZCARD', B .. 'ready') == 0
  for k = 1, #popped, 2 do
    local id = popped[k]
    local key = jkey(id)
    local h = redis.call('HMGET', key, unpack(CLAIMED))
    if h[1] == 'queued' then
      local attempts = tonumber(h[4]) + 1
      redis.call('HSET', key, 'status', 'running', 'attempts', int(attempts), 'worker_id', ARGV[6], 'hostname', ARGV[7],
        'started_at', NOWS, 'updated_at', NOWS, 'progress', '0', 'token', ARGV[8] .. '.' .. k, 'lease', leases)
      if h[5] then redis.call('HDEL', key, 'status_message') end
      restatus(id, 'queued', 'running', h[2])
      zchange(B .. 'run', id, leases)
      h[1], h[4], h[5] = k, attempts, false
      out[#out + 1] = h
      batched_event('started', id, h[3], 'worker', ARGV[6])
    end
  end
end
-- tokens are spent once nothing is left to hand out (or the queue is paused)
if emptied then redis.call('LREM', inbox, 0, WAKE) end
-- how many foreign envelopes wait (tokens are at most 64, so a longer inbox holds some)
local waiting = redis.call('LLEN', inbox)
if waiting > 0 and waiting <= 64 then waiting = waiting - #redis.call('LPOS', inbox, WAKE, 'COUNT', 0) end
out[1] = waiting
finish()
return out
