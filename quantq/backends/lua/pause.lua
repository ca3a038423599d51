-- Pause (ARGV[4] = '1') or resume a queue; resuming wakes its workers.
if ARGV[4] == '1' then
  redis.call('SET', B .. 'paused', '1')
else
  redis.call('DEL', B .. 'paused')
  if redis.call('ZCARD', B .. 'ready') > 0 then wake() end
end
return 1
