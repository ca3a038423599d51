-- Shared prelude, prepended to every script at load time.
-- ARGV[1] = key base "<prefix>:{<queue>}:", ARGV[2] = queue name, ARGV[3] = event channel ('' = off).
-- Every time that decides anything comes from Redis TIME, never from a client.
local B, QUEUE, CHANNEL = ARGV[1], ARGV[2], ARGV[3]
local T = redis.call('TIME')
local NOW = tonumber(T[1]) + tonumber(T[2]) / 1000000
local NOWS = string.format('%.6f', NOW)
local WAKE = '~'
local BAND = 17592186044416 -- 2^44: one priority band of the ready set's score
local EVENTS = {}

local function jkey(id) return B .. 'job:' .. id end
local function skey(status) return B .. 'st:' .. status end
local function fmt(x) return string.format('%.6f', x) end

local function event(kind, id, extra)
  if CHANNEL == '' then return end
  local e = {event = kind, id = id, queue = QUEUE, at = NOW}
  if extra then for k, v in pairs(extra) do e[k] = v end end
  EVENTS[#EVENTS + 1] = e
end

local function publish()
  if CHANNEL ~= '' and #EVENTS > 0 then redis.call('PUBLISH', CHANNEL, cjson.encode(EVENTS)) end
end

-- move an id between the per-status indexes (score: created_at, so listings run newest first)
local function restatus(id, from, to, created)
  if from then redis.call('ZREM', skey(from), id) end
  redis.call('ZADD', skey(to), tonumber(created), id)
end

-- one wake token in the inbox lets blocked workers return; capped so tokens never pile up
local function wake()
  if redis.call('LLEN', B .. 'inbox') < 64 then redis.call('LPUSH', B .. 'inbox', WAKE) end
end

local function make_ready(id, prio, seq)
  redis.call('ZADD', B .. 'ready', (9 - tonumber(prio)) * BAND + tonumber(seq), id)
end

local function held(id, token)
  local h = redis.call('HMGET', jkey(id), 'status', 'token', 'lease')
  return h[1] == 'running' and h[2] == token and tonumber(h[3]) > NOW
end

-- a finished job: its key expires after its TTL (-1 keeps it); prune tidies the indexes later
local function finish_ttl(id, task, ttl)
  local t = tonumber(ttl)
  if t == nil or t < 0 then return end
  redis.call('ZADD', B .. 'exp', NOW + t, id .. '\n' .. task)
  if t == 0 then redis.call('DEL', jkey(id)) else redis.call('EXPIRE', jkey(id), t) end
end

local function promote(max)
  local due = redis.call('ZRANGEBYSCORE', B .. 'sched', '-inf', NOW, 'LIMIT', 0, max)
  for _, id in ipairs(due) do
    redis.call('ZREM', B .. 'sched', id)
    local h = redis.call('HMGET', jkey(id), 'status', 'priority', 'seq', 'created_at', 'task')
    if h[1] == 'scheduled' then
      redis.call('HSET', jkey(id), 'status', 'queued', 'updated_at', NOWS)
      restatus(id, 'scheduled', 'queued', h[4])
      make_ready(id, h[2], h[3])
      event('queued', id, {task = h[5]})
    end
  end
  if #due > 0 then wake() end
  return #due
end

local function next_due()
  local r = redis.call('ZRANGE', B .. 'sched', 0, 0, 'WITHSCORES')
  if #r > 0 then return fmt(tonumber(r[2]) - NOW) end -- seconds until due
  return ''
end

-- Insert one job whose fields start at ARGV[i]: id, run_at, created_at, priority, task, n, n pairs.
-- Returns the next index and either {status, created_at, updated_at} (new) or the stored hash.
local function insert_job(i)
  local id, run_at, created, prio, task, nf = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  local first = i + 6
  local nexti = first + 2 * nf
  local key = jkey(id)
  if redis.call('EXISTS', key) == 1 then return nexti, redis.call('HGETALL', key), false end
  if created == '' then created = NOWS end -- a producer's created_at is also the record's first updated_at
  local seq = redis.call('INCR', B .. 'seq')
  local status = 'queued'
  if run_at ~= '' and tonumber(run_at) > NOW then status = 'scheduled' end
  local fields = {'v', '1', 'id', id, 'task', task, 'queue', QUEUE, 'priority', prio, 'status', status,
    'attempts', '0', 'created_at', created, 'updated_at', created, 'seq', seq}
  if run_at ~= '' then fields[#fields + 1] = 'run_at'; fields[#fields + 1] = run_at end
  for k = first, nexti - 1 do fields[#fields + 1] = ARGV[k] end
  redis.call('HSET', key, unpack(fields)) -- one write for the whole record
  restatus(id, nil, status, created)
  redis.call('ZADD', B .. 'task:' .. task, tonumber(created), id)
  if status == 'scheduled' then
    redis.call('ZADD', B .. 'sched', tonumber(run_at), id)
  else
    make_ready(id, prio, seq)
  end
  event('enqueued', id, {task = task, status = status})
  return nexti, {status, created, created}, status == 'queued'
end
