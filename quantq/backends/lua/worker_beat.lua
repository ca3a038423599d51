-- Heartbeat: ARGV[4] id, ARGV[5] current jobs JSON, ARGV[6] processed, ARGV[7] failed.
local old = redis.call('HGET', B .. 'info', ARGV[4])
if not old then return 0 end
local info = cjson.decode(old)
info.current_jobs = cjson.decode(ARGV[5])
info.processed = tonumber(ARGV[6])
info.failed = tonumber(ARGV[7])
info.heartbeat_at = NOWS
redis.call('HSET', B .. 'info', ARGV[4], cjson.encode(info))
redis.call('ZADD', B .. 'hb', NOW, ARGV[4])
return 1
