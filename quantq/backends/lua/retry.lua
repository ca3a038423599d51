-- Run a failed or cancelled job ARGV[4] again, as a fresh run.  Reply like cancel.lua.
local id = ARGV[4]
local key = jkey(id)
local h = redis.call('HMGET', key, 'status', 'created_at', 'task', 'priority')
if not h[1] then return {'missing'} end
if h[1] ~= 'failed' and h[1] ~= 'cancelled' then return {'refused', h[1]} end
redis.call('PERSIST', key)
redis.call('ZREM', B .. 'exp', id .. '\n' .. h[3])
local seq = redis.call('INCR', B .. 'seq')
redis.call('HSET', key, 'status', 'queued', 'attempts', '0', 'progress', '0', 'updated_at', NOWS, 'seq', seq)
redis.call('HDEL', key, 'error', 'result', 'status_message', 'run_at', 'started_at', 'finished_at', 'worker_id', 'hostname', 'token', 'lease')
restatus(id, h[1], 'queued', h[2])
make_ready(id, h[4], seq)
wake()
event('enqueued', id, h[3], 'status', 'queued', 'retry', true)
finish()
return {'ok', redis.call('HGETALL', key)}
