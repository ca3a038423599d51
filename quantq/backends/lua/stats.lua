-- Counts per status, paused flag, and when the oldest queued job began to wait.
local statuses = {'scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled'}
local out = {}
for _, s in ipairs(statuses) do out[#out + 1] = redis.call('ZCARD', skey(s)) end
out[#out + 1] = redis.call('EXISTS', B .. 'paused')
local oldest = ''
local first = redis.call('ZRANGE', skey('queued'), 0, 0)
if #first > 0 then
  local h = redis.call('HMGET', jkey(first[1]), 'created_at', 'run_at')
  oldest = h[1]
  if h[2] and h[1] and tonumber(h[2]) > tonumber(h[1]) then oldest = h[2] end
end
out[#out + 1] = oldest or ''
return out
