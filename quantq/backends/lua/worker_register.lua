-- Worker registry (keys "<prefix>:{workers}:info" hash and ":hb" zset).  ARGV[4] id, ARGV[5] info JSON.
local info = cjson.decode(ARGV[5])
local old = redis.call('HGET', B .. 'info', ARGV[4])
if old then info.started_at = cjson.decode(old).started_at end
if info.started_at == nil or info.started_at == cjson.null then info.started_at = NOWS end
info.heartbeat_at = NOWS
redis.call('HSET', B .. 'info', ARGV[4], cjson.encode(info))
redis.call('ZADD', B .. 'hb', NOW, ARGV[4])
return 1
