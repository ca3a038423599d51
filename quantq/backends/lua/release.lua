-- Hand a running job back unrun (drain): ARGV[4] id, ARGV[5] token.  The attempt is not counted.
local id = ARGV[4]
local key = jkey(id)
local h = redis.call('HMGET', key, 'status', 'token', 'attempts', 'priority', 'seq', 'created_at', 'task')
if h[1] ~= 'running' or h[2] ~= ARGV[5] then return 0 end
local attempts = math.max(0, tonumber(h[3]) - 1)
redis.call('HSET', key, 'status', 'queued', 'attempts', attempts, 'updated_at', NOWS)
redis.call('HDEL', key, 'token', 'lease', 'worker_id', 'hostname')
redis.call('ZREM', B .. 'run', id)
restatus(id, 'running', 'queued', h[6])
make_ready(id, h[4], h[5])
wake()
event('released', id, h[7])
finish()
return 1
