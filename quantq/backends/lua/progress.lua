-- Progress under a held claim: ARGV[4] id, ARGV[5] token, ARGV[6] percent, ARGV[7] message ('\0' = none).
local id = ARGV[4]
if not held(id, ARGV[5]) then return 0 end
local key = jkey(id)
redis.call('HSET', key, 'progress', ARGV[6], 'updated_at', NOWS)
local message = nil
if ARGV[7] == '\0' then redis.call('HDEL', key, 'status_message')
else redis.call('HSET', key, 'status_message', ARGV[7]); message = ARGV[7] end
event('progress', id, nil, 'progress', tonumber(ARGV[6]), 'message', message)
finish()
return 1
