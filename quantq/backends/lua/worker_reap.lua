-- Forget workers silent for more than ARGV[4] seconds.  Reply: how many.
local dead = redis.call('ZRANGEBYSCORE', B .. 'hb', '-inf', NOW - tonumber(ARGV[4]))
for _, id in ipairs(dead) do
  redis.call('HDEL', B .. 'info', id)
  redis.call('ZREM', B .. 'hb', id)
end
return #dead
