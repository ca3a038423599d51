-- Cancel ARGV[4]: scheduled, queued or running -> cancelled.  Reply {'ok', hash} | {'missing'} | {'finished', status}.
local id = ARGV[4]
local key = jkey(id)
local h = redis.call('HMGET', key, 'status', 'created_at', 'task', 'failure_ttl')
if not h[1] then return {'missing'} end
local status = h[1]
if status ~= 'scheduled' and status ~= 'queued' and status ~= 'running' then return {'finished', status} end
redis.call('ZREM', B .. 'ready', id)
redis.call('ZREM', B .. 'sched', id)
redis.call('ZREM', B .. 'run', id)
redis.call('HSET', key, 'status', 'cancelled', 'finished_at', NOWS, 'updated_at', NOWS)
redis.call('HDEL', key, 'token', 'lease')
restatus(id, status, 'cancelled', h[2])
local rec = redis.call('HGETALL', key)
finish_ttl(id, h[3], h[4])
event('cancelled', id, h[3])
finish()
return {'ok', rec}
