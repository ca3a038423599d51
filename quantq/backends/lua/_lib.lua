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

-- an event: its task and up to two more fields (k1 = v1, k2 = v2), one table per event
local function event(kind, id, task, k1, v1, k2, v2)
  if CHANNEL == '' then return end
  local e = {event = kind, id = id, queue = QUEUE, at = NOW, task = task}
  if k1 then e[k1] = v1 end
  if k2 then e[k2] = v2 end
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

local function ready_score(prio, seq) return (9 - tonumber(prio)) * BAND + tonumber(seq) end

local function make_ready(id, prio, seq)
  redis.call('ZADD', B .. 'ready', ready_score(prio, seq), id)
end

-- Index entries of new jobs, written with one ZADD per sorted set when the script calls
-- flush_index() (a call from Lua costs more than the entry: a bulk enqueue spends most of
-- its Redis time there).  Nothing in a script reads these sets between store_job and the flush.
local ZQ, ZQKEYS = {}, {}

local function zadd_later(key, score, member)
  local q = ZQ[key]
  if not q then
    q = {}
    ZQ[key] = q
    ZQKEYS[#ZQKEYS + 1] = key
  end
  q[#q + 1] = score
  q[#q + 1] = member
end

local function flush_index()
  for _, key in ipairs(ZQKEYS) do
    local q = ZQ[key]
    for s = 1, #q, 4000 do -- (unpack has a limit of a few thousand values)
      redis.call('ZADD', key, unpack(q, s, math.min(s + 3999, #q)))
    end
  end
  ZQ, ZQKEYS = {}, {}
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
      event('queued', id, h[5])
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

-- Store one new job (the caller ends with flush_index()): its own id, created_at ('' = now) and args JSON ('' = none), the rest
-- from `shared` (run_at, priority, task and a flat list of further field pairs).  `seq` is
-- the job's place in line (a batch takes its numbers with one INCRBY), or nil to take the
-- next number only if the job is new.  Returns either {status, created_at, updated_at} (new)
-- or the stored hash, and whether it is ready to run.
local function store_job(id, created, args, shared, seq)
  local key = jkey(id)
  if redis.call('EXISTS', key) == 1 then return redis.call('HGETALL', key), false end
  seq = seq or redis.call('INCR', B .. 'seq')
  if created == '' then created = NOWS end -- a producer's created_at is also the record's first updated_at
  local run_at, prio, task = shared.run_at, shared.priority, shared.task
  local status = 'queued'
  if run_at ~= '' and tonumber(run_at) > NOW then status = 'scheduled' end
  local fields = {'v', '1', 'id', id, 'task', task, 'queue', QUEUE, 'priority', prio, 'status', status,
    'attempts', '0', 'created_at', created, 'updated_at', created, 'seq', seq}
  local n = 20
  if run_at ~= '' then fields[n + 1], fields[n + 2], n = 'run_at', run_at, n + 2 end
  if args ~= '' then fields[n + 1], fields[n + 2], n = 'args', args, n + 2 end
  local more = shared.pairs
  for k = 1, #more do fields[n + k] = more[k] end
  redis.call('HSET', key, unpack(fields)) -- one write for the whole record
  local when = tonumber(created)
  zadd_later(skey(status), when, id) -- the indexes: written by flush_index()
  zadd_later(B .. 'task:' .. task, when, id)
  if status == 'scheduled' then
    zadd_later(B .. 'sched', tonumber(run_at), id)
  else
    zadd_later(B .. 'ready', ready_score(prio, seq), id)
  end
  event('enqueued', id, task, 'status', status)
  return {status, created, created}, status == 'queued'
end

-- Read a template at ARGV[i]: run_at, priority, task, n, n field pairs.  Returns it and the next index.
local function read_template(i)
  local nf = tonumber(ARGV[i + 3])
  local t = {run_at = ARGV[i], priority = ARGV[i + 1], task = ARGV[i + 2], pairs = {}}
  for k = i + 4, i + 3 + 2 * nf do t.pairs[#t.pairs + 1] = ARGV[k] end
  return t, i + 4 + 2 * nf
end

-- Insert one job whose fields start at ARGV[i]: id, created_at, then its template (all its
-- other fields, args among them).  Returns the next index, the record as store_job does,
-- and whether it is ready.
local function insert_job(i)
  local id, created = ARGV[i], ARGV[i + 1]
  local shared, nexti = read_template(i + 2)
  local rec, ready = store_job(id, created, '', shared, nil)
  return nexti, rec, ready
end
