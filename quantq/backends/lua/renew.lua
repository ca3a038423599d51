-- Extend leases: ARGV[4] lease seconds, then id, token pairs.  Reply: {expiry, 1|0 per claim}.
local lease = fmt(NOW + tonumber(ARGV[4])) -- (text once: see int in the prelude)
local out = {lease}
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  if held(id, ARGV[i + 1]) then
    redis.call('HSET', jkey(id), 'lease', lease)
    redis.call('ZADD', B .. 'run', lease, id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
