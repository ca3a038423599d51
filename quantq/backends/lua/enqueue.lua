-- Store jobs, in groups that share everything but id, created_at and args (a batch of one
-- task's jobs is one group).  ARGV[4] = number of jobs, ARGV[5] = number of groups, then per
-- group: its template (see read_template), its job count, and per job id, created_at ('' =
-- now), args JSON and its position in the call (so places in line follow the caller's order,
-- whatever the grouping).  Reply, group by group: the status of the group's new jobs, then per
-- job in the order sent its created_at (new) or the stored hash (the id existed).
local out, i, woke = {}, 6, false
local base = redis.call('INCRBY', B .. 'seq', tonumber(ARGV[4])) - tonumber(ARGV[4])
for _ = 1, tonumber(ARGV[5]) do
  local shared
  shared, i = read_template(i)
  local n = tonumber(ARGV[i])
  i = i + 1
  out[#out + 1] = shared.status
  for _ = 1, n do
    local rec, ready = store_job(ARGV[i], ARGV[i + 1], ARGV[i + 2], shared, base + tonumber(ARGV[i + 3]))
    i = i + 4
    out[#out + 1] = rec
    woke = woke or ready
  end
  group_events(shared)
end
if woke then wake() end
finish()
return out
