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
-- A whole number as text.  Scores and fields go to Redis as text made here or kept from the
-- record: Redis prints a Lua number argument with %.17g, and that float printing (four per
-- job) was a twentieth of a bulk enqueue's Redis time.
local function int(n) return string.format('%d', n) end

-- an event: its task and up to two more fields (k1 = v1, k2 = v2), one table per event
local function event(kind, id, task, k1, v1, k2, v2)
  if CHANNEL == '' then return end
  local e = {event = kind, id = id, queue = QUEUE, at = NOW, task = task}
  if k1 then e[k1] = v1 end
  if k2 then e[k2] = v2 end
  EVENTS[#EVENTS + 1] = e
end

-- the event of a job in a batch (started, completed): the jobs of one task in one call share one
-- event, with `ids` (in order) in place of `id` from the second on, as a bulk enqueue's do (a
-- table per job was a tenth of a claim's Redis time); k1 = v1 is the same for all of them
local BATCHED = {}
local function batched_event(kind, id, task, k1, v1)
  if CHANNEL == '' then return end
  local group = kind .. '\n' .. task
  local e = BATCHED[group]
  if not e then
    event(kind, id, task, k1, v1)
    BATCHED[group] = EVENTS[#EVENTS]
  elseif e.ids then
    e.ids[#e.ids + 1] = id
  else
    e.ids, e.id = {e.id, id}, nil
  end
end

-- one wake token in the inbox lets blocked workers return; capped so tokens never pile up
local function wake()
  if redis.call('LLEN', B .. 'inbox') < 64 then redis.call('LPUSH', B .. 'inbox', WAKE) end
end

local function ready_score(prio, seq) return int((9 - tonumber(prio)) * BAND + tonumber(seq)) end

local function make_ready(id, prio, seq)
  redis.call('ZADD', B .. 'ready', ready_score(prio, seq), id)
end

-- Index writes are kept until the script ends (finish()) and then made with one ZADD and one
-- ZREM per sorted set: a call from Lua costs more than the entry, and a bulk enqueue, a claim
-- and a report of many jobs would spend most of their Redis time in those calls.  No script
-- reads a set it has writes kept for (the ready and lease-expiry sets of claims, the ones a
-- script does read, are written at once where they are read).
--   zq(key): new jobs' entries (score, member, score, ...): a list, cheapest to fill;
--   zchange(key, member, score or false): an existing job's entry moved or removed; per member
--   the last change wins, so the writes at the end leave what one call per change would have.
local ZQ, ZQKEYS, ZC, ZCKEYS = {}, {}, {}, {}

local function kept(tables, keys, key) -- the table kept for `key` in `tables`, made on first use
  local t = tables[key]
  if not t then
    t = {}
    tables[key] = t
    keys[#keys + 1] = key
  end
  return t
end

local function zq(key) return kept(ZQ, ZQKEYS, key) end

local function zchange(key, member, score) kept(ZC, ZCKEYS, key)[member] = score end

local function zcall(command, key, list) -- (unpack has a limit of a few thousand values)
  for s = 1, #list, 4000 do redis.call(command, key, unpack(list, s, math.min(s + 3999, #list))) end
end

local function flush_index()
  for _, key in ipairs(ZQKEYS) do zcall('ZADD', key, ZQ[key]) end
  for _, key in ipairs(ZCKEYS) do -- (after the new entries: a job is changed after it is made)
    local adds, removes = {}, {}
    for member, score in pairs(ZC[key]) do
      if score then
        adds[#adds + 1], adds[#adds + 2] = score, member
      else
        removes[#removes + 1] = member
      end
    end
    zcall('ZREM', key, removes)
    zcall('ZADD', key, adds)
  end
  ZQ, ZQKEYS, ZC, ZCKEYS = {}, {}, {}, {}
end

-- the end of every script that changes jobs: the index writes it kept, then its events
local function finish()
  flush_index()
  if CHANNEL ~= '' and #EVENTS > 0 then redis.call('PUBLISH', CHANNEL, cjson.encode(EVENTS)) end
end

-- move an id between the per-status indexes (score: created_at as stored, so listings run
-- newest first)
local function restatus(id, from, to, created)
  if from then zchange(skey(from), id, false) end
  zchange(skey(to), id, created)
end

local function held(id, token)
  local h = redis.call('HMGET', jkey(id), 'status', 'token', 'lease')
  return h[1] == 'running' and h[2] == token and tonumber(h[3]) > NOW
end

-- a finished job: its key expires after its TTL (-1 keeps it); prune tidies the indexes later
local EXPIRES = {} -- ttl -> its expiry time as text: the jobs of a batch share their TTLs
local function finish_ttl(id, task, ttl)
  local t = tonumber(ttl)
  if t == nil or t < 0 then return end
  local at = EXPIRES[t]
  if not at then
    at = fmt(NOW + t)
    EXPIRES[t] = at
  end
  zchange(B .. 'exp', id .. '\n' .. task, at)
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

-- Store one new job (the caller ends with finish()): its own id, created_at ('' = now)
-- and args JSON, the rest from its group `g` (see read_template).  `seq` is the
-- job's place in line (a batch takes its numbers with one INCRBY), or nil to take the next
-- number only if the job is new.  Returns either its created_at (new: also its updated_at,
-- and its status is its group's) or the stored hash, and whether it is ready to run.  A bulk
-- enqueue spends most of its Redis time here, so what a group shares is worked out once, in
-- read_template, not per job.
local function store_job(id, created, args, g, seq)
  local key = B .. 'job:' .. id
  if redis.call('EXISTS', key) == 1 then return redis.call('HGETALL', key), false end
  seq = seq or redis.call('INCR', B .. 'seq')
  if created == '' then created = NOWS end -- a producer's created_at is also the record's first updated_at
  local status = g.status
  redis.call('HSET', key, 'v', '1', 'id', id, 'task', g.task, 'queue', QUEUE, 'priority', g.priority, 'status', status,
    'attempts', '0', 'created_at', created, 'updated_at', created, 'seq', int(seq), 'args', args, unpack(g.tail)) -- one write
  local q = g.by_status -- the indexes (scores as text, see int): written by finish()
  q[#q + 1], q[#q + 2] = created, id
  q = g.by_task
  q[#q + 1], q[#q + 2] = created, id
  q = g.place
  if g.run_at then q[#q + 1] = g.run_at else q[#q + 1] = int(g.band + seq) end
  q[#q + 1] = id
  g.ids[#g.ids + 1] = id -- its event: see group_events
  return created, g.run_at == nil
end

-- Read a template at ARGV[i]: run_at, priority, task, n, n field pairs.  Returns the group
-- its jobs share (those fields, their status, their index lists) and the next index.
local function read_template(i)
  local nf = tonumber(ARGV[i + 3])
  local run_at, prio, task = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local g = {priority = prio, task = task, tail = {}, band = (9 - tonumber(prio)) * BAND, ids = {}}
  if run_at ~= '' then g.tail[1], g.tail[2] = 'run_at', run_at end
  for k = i + 4, i + 3 + 2 * nf do g.tail[#g.tail + 1] = ARGV[k] end
  g.status = 'queued'
  if run_at ~= '' and tonumber(run_at) > NOW then
    g.status, g.run_at, g.place = 'scheduled', run_at, zq(B .. 'sched')
  else
    g.place = zq(B .. 'ready')
  end
  g.by_status, g.by_task = zq(skey(g.status)), zq(B .. 'task:' .. task)
  return g, i + 4 + 2 * nf
end

-- The `enqueued` events of a group's new jobs: one event for one job; for more, one event
-- with `ids` instead of `id` (a bulk enqueue would spend a fifth of its Redis time building and
-- encoding one table per job; subscribe_events hands Python listeners one event per job again).
local function group_events(g)
  if CHANNEL == '' or #g.ids == 0 then return end
  local e = {event = 'enqueued', queue = QUEUE, at = NOW, task = g.task, status = g.status}
  if #g.ids == 1 then e.id = g.ids[1] else e.ids = g.ids end
  EVENTS[#EVENTS + 1] = e
end

-- Insert one job whose fields start at ARGV[i]: id, created_at, args JSON, then its template
-- (all its other fields).  Returns the next index, the record as store_job does, and whether
-- it is ready.
local function insert_job(i)
  local id, created, args = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local shared, nexti = read_template(i + 3)
  local rec, ready = store_job(id, created, args, shared, nil)
  group_events(shared)
  return nexti, rec, ready
end
