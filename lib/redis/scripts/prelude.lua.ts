import { DIMENSIONS, MAX_AMOUNT } from '../../core/budget.js';
import { SETTLEMENT_MEMORY_MS } from '../../core/ledger-rules.js';

/** How long after its ledger-clock end Redis expires a key (see `ms` in the prelude). */
export const EXPIRY_GRACE_MS = 60_000;

// Shared by every Tokencap script (it is prepended to each). Embedded as a string so `tsc` ships
// it in dist/ with no copy step. The rules mirror lib/core/ledger-rules.ts and
// lib/core/memory-ledger.store.ts line for line; test/contract runs both stores through the same
// cases, and test/redis/redis-memory.equivalence.spec.ts random ones, so keep them in step.
//
// KEYS: for each budget, its ledger hash, its reservation index (a sorted set) and its marks (a
// sorted set).
//   ledger hash fields: ws, we (current window's start and end), ev (evict-at, ledger clock),
//   f (fired markers, as '|tokens:1000@0.8|tokens:1000@x|'), b (when the ledger started: it starts
//   again after an eviction), u1..uN (used), r1..rN (reserved), n (commits in the window), ra
//   (last reset), k1..kN (the window's credit),
//   and '#<reservation id>' holding the reserved amounts ('a1 a2 a3').
//   reservation index: reservation id -> its expiresAt.
//   marks: 'l<id>' (a reservation that lapsed uncommitted) or 'c<id>' (a charge-once commit),
//   scored by when they are forgotten (SETTLEMENT_MEMORY_MS later); exists only while one is kept.
// ARGV: [1] deadline in server ms (0: none), then the script's own arguments, then `now`, the
//   number of budgets and each budget's spec (see readBudgets).
// Every number goes in and out as a string: Lua numbers are doubles, and Redis would truncate a
// returned number to an integer. Windows are computed by the caller (lib/core/budget-window.ts):
// a script only ever sees their bounds.
export const PRELUDE_LUA = `
if redis.replicate_commands then redis.replicate_commands() end

local NDIM = ${DIMENSIONS.length}
local DIM = { ${DIMENSIONS.map((d) => `'${d}'`).join(', ')} }
local MAX = ${MAX_AMOUNT}
local MEMORY = ${SETTLEMENT_MEMORY_MS}
local FIELDS = { 'ws', 'we', 'ev', 'f', 'b' }
for d = 1, NDIM do FIELDS[5 + d] = 'u' .. d; FIELDS[5 + NDIM + d] = 'r' .. d end
local XF = 5 + 2 * NDIM
FIELDS[XF + 1] = 'n'; FIELDS[XF + 2] = 'ra'
for d = 1, NDIM do FIELDS[XF + 2 + d] = 'k' .. d end

local argi = 1
local function str()
  argi = argi + 1
  local v = ARGV[argi]
  if v == nil then return error('tokencap: missing argument ' .. argi) end
  return v
end
local function num()
  local v = tonumber(str())
  if v == nil or v ~= v then return error('tokencap: argument ' .. argi .. ' is not a number') end
  return v
end
-- A number, or nil for ''.
local function optnum()
  local v = str()
  if v == '' then return nil end
  v = tonumber(v)
  if v == nil or v ~= v then return error('tokencap: argument ' .. argi .. ' is not a number') end
  return v
end

local function fmt(n)
  if n == math.floor(n) and n > -1e15 and n < 1e15 then return string.format('%d', n) end
  return string.format('%.17g', n)
end
-- Key TTLs: Redis expires a key GRACE ms after the ledger clock says it is done. The scripts
-- evict and lapse by the ledger clock themselves (ev, expiry scores), so the TTL is a backstop
-- that bounds memory and never pre-empts a replica whose clock lags by less than the grace.
local GRACE = ${EXPIRY_GRACE_MS}
local function ms(x) return fmt(math.max(1, math.ceil(x)) + GRACE) end
local function zero()
  local t = {}
  for d = 1, NDIM do t[d] = 0 end
  return t
end
local function parseAmounts(held)
  local t, d = zero(), 0
  for w in string.gmatch(held, '%S+') do
    d = d + 1
    t[d] = tonumber(w) or 0
  end
  return t
end
local function encodeAmounts(a)
  local parts = {}
  for d = 1, NDIM do parts[d] = fmt(a[d]) end
  return table.concat(parts, ' ')
end
-- used + amount, saturating at MAX (addUsage of ledger-rules.ts).
local function addUsage(used, amount) return math.min(used + amount, MAX) end

-- Server time, and whether the caller has already given up on this command (it was queued
-- while Redis was unreachable and is running late): a late command changes nothing.
local function begin()
  local t = redis.call('TIME')
  local srv = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local deadline = tonumber(ARGV[1]) or 0
  return srv, deadline > 0 and srv > deadline
end

-- Each budget: its window's start and end at now ('' for none), evict ttl ms (0: none), policy
-- (h, d or n), maxReservation (0: none), the thresholds as written in fired markers, and its
-- limits: dimension index, limit, the marker prefix of that limit (markerPrefix), and the amount
-- at which each threshold counts as reached (thresholdAmount, computed by the caller).
local function readBudgets()
  local n = num()
  local budgets = {}
  for i = 1, n do
    local b = {}
    b.ws = optnum()
    b.we = optnum()
    b.evictTtl = num()
    b.policy = str()
    b.maxRes = num()
    b.thr = {}
    for j = 1, num() do b.thr[j] = str() end
    b.limits = {}
    for k = 1, num() do
      local lim = {}
      lim.dim = num()
      lim.limit = num()
      lim.mark = str()
      lim.at = {}
      for j = 1, #b.thr do lim.at[j] = num() end
      b.limits[k] = lim
    end
    budgets[i] = b
  end
  return budgets
end

-- Loaded ledgers by key, so budgets sharing a ledger share one state (held and charged once);
-- \`order\` lists them for persist.
local states, order = {}, {}

local function mark(s, member, untilMs)
  redis.call('ZADD', s.M, fmt(untilMs), member)
  s.marked = true
end

-- Raises a budget's limits by the window's credit (effectiveLimit of ledger-rules.ts), with the
-- threshold amounts that follow (thresholdAmount); markers keep naming the declared limit.
local function credited(s, b)
  for _, lim in ipairs(b.limits) do
    lim.declared = lim.declared or lim.limit
    local c = s.credit[lim.dim]
    lim.limit = math.min(lim.declared + c, MAX)
    if c > 0 then
      for j = 1, #b.thr do lim.at[j] = math.ceil(tonumber(b.thr[j]) * lim.limit - 1e-9) end
    end
  end
  return s
end

-- A budget's ledger as of \`now\`: lapses expired reservations (remembering each), evicts an idle
-- ledger (past its evict-at with nothing in flight), rolls the window forward. With \`write\`
-- false nothing is written.
local function load(i, b, now, write)
  local L = KEYS[3 * i - 2]
  local s = states[L]
  if s then return credited(s, b) end
  s = { L = L, Z = KEYS[3 * i - 1], M = KEYS[3 * i], used = zero(), res = zero(), fired = '', exists = false, n = 0, credit = zero() }
  local v = redis.call('HMGET', L, unpack(FIELDS))
  for k = 1, #FIELDS do
    if v[k] then s.exists = true end
  end
  if v[1] then s.ws = tonumber(v[1]) end
  if v[2] then s.we = tonumber(v[2]) end
  if v[3] then s.ev = tonumber(v[3]) end
  if v[4] then s.fired = v[4] end
  if v[5] then s.born = tonumber(v[5]) end
  for d = 1, NDIM do
    if v[5 + d] then s.used[d] = tonumber(v[5 + d]) end
    if v[5 + NDIM + d] then s.res[d] = tonumber(v[5 + NDIM + d]) end
    if v[XF + 2 + d] then s.credit[d] = tonumber(v[XF + 2 + d]) end
  end
  if v[XF + 1] then s.n = tonumber(v[XF + 1]) end
  if v[XF + 2] then s.ra = tonumber(v[XF + 2]) end
  local expired = redis.call('ZRANGEBYSCORE', s.Z, '-inf', fmt(now), 'WITHSCORES')
  local live = redis.call('ZCARD', s.Z) - #expired / 2
  for k = 1, #expired, 2 do
    local id = expired[k]
    local held = redis.call('HGET', L, '#' .. id)
    if held then
      local a = parseAmounts(held)
      for d = 1, NDIM do s.res[d] = s.res[d] - a[d] end
      if write then redis.call('HDEL', L, '#' .. id) end
    end
    if write then mark(s, 'l' .. id, tonumber(expired[k + 1]) + MEMORY) end
  end
  if write and #expired > 0 then redis.call('ZREMRANGEBYSCORE', s.Z, '-inf', fmt(now)) end
  -- With nothing held, reserved is exactly zero (as in the memory store), whatever rounding did.
  if live == 0 then s.res = zero() end
  if s.ev and s.ev <= now and live == 0 then
    if write and s.exists then redis.call('DEL', L) end
    s.used, s.res, s.fired, s.ws, s.we, s.ev, s.exists = zero(), zero(), '', nil, nil, nil, false
    s.n, s.ra, s.credit = 0, nil, zero()
  end
  -- A ledger starts (again, after an eviction) now; one written before births were kept has none.
  if not s.exists then s.born = now end
  -- Windows only move forward: a caller whose clock lags charges the newest window instead of
  -- starting an old one afresh (which would reset usage).
  if b.ws and (s.ws == nil or b.ws > s.ws) then
    s.ws, s.we = b.ws, b.we
    s.used = zero()
    s.fired = ''
    s.n, s.credit = 0, zero()
  end
  -- Whether the ledger had any state before this script (it was not evicted nor lost).
  s.existed = s.exists
  states[L] = s
  order[#order + 1] = s
  return credited(s, b)
end

-- Marks the ledger as used at \`now\`: it lives until now + ttl, or its window's end. Budgets of
-- one call sharing the ledger may differ in ttl: it lives as long as the longest (nil: forever).
local function touch(s, b, now)
  local fresh = not s.exists
  s.exists = true
  local ev
  if b.evictTtl > 0 then
    ev = now + b.evictTtl
  elseif s.we then
    ev = s.we
  end
  -- Declarations sharing a ledger may differ in ttl: the ledger lives as long as the longest that
  -- ever touched it (nil: never evicted), so a short-lived sibling cannot evict a lifetime cap.
  if fresh and not s.touched then
    s.ev = ev
  elseif s.ev and (ev == nil or ev > s.ev) then
    s.ev = ev
  end
  s.touched = true
end

local function drop(s, id)
  local held = redis.call('HGET', s.L, '#' .. id)
  if not held then return false end
  local a = parseAmounts(held)
  for d = 1, NDIM do s.res[d] = s.res[d] - a[d] end
  redis.call('HDEL', s.L, '#' .. id)
  redis.call('ZREM', s.Z, id)
  if redis.call('ZCARD', s.Z) == 0 then s.res = zero() end
  return true
end

-- A mark's end, if it is still kept at now.
local function kept(s, member, now)
  local score = redis.call('ZSCORE', s.M, member)
  if score and tonumber(score) > now then return true end
  return false
end

-- Writes a ledger back and sets its keys' TTLs: the ledger lives until its evict-at or its last
-- reservation's expiry, whichever is later; the index until its last reservation's expiry plus
-- MEMORY (so a reservation lapsing while its ledger is idle is still remembered); the marks until
-- the last one is forgotten.
local function persist(s, now)
  if s.marked then
    redis.call('ZREMRANGEBYSCORE', s.M, '-inf', fmt(now))
    local lastMark = redis.call('ZRANGE', s.M, -1, -1, 'WITHSCORES')
    if lastMark[2] then redis.call('PEXPIRE', s.M, ms(tonumber(lastMark[2]) - now)) end
  end
  if not s.exists then return end
  local set, del = {}, {}
  local function put(field, value, keepZero)
    if value == nil or value == '' or (value == 0 and not keepZero) then
      del[#del + 1] = field
    else
      set[#set + 1] = field
      set[#set + 1] = type(value) == 'number' and fmt(value) or value
    end
  end
  put('ws', s.ws, true)
  put('we', s.we, true)
  put('ev', s.ev)
  put('f', s.fired)
  put('b', s.born, true)
  for d = 1, NDIM do
    put('u' .. d, s.used[d])
    put('r' .. d, s.res[d])
    put('k' .. d, s.credit[d])
  end
  put('n', s.n)
  put('ra', s.ra)
  if #set > 0 then redis.call('HSET', s.L, unpack(set)) end
  if #del > 0 then redis.call('HDEL', s.L, unpack(del)) end
  local keepUntil = s.ev or math.huge
  local last = redis.call('ZRANGE', s.Z, -1, -1, 'WITHSCORES')
  if last[2] then
    local at = tonumber(last[2])
    redis.call('PEXPIRE', s.Z, ms(at + MEMORY - now))
    if at > keepUntil then keepUntil = at end
  end
  if keepUntil == math.huge then
    redis.call('PERSIST', s.L)
  else
    redis.call('PEXPIRE', s.L, ms(keepUntil - now))
  end
end

local function persistAll(now)
  for _, s in ipairs(order) do persist(s, now) end
end

-- Appends used, then reserved, then credit, of every dimension.
local function snap(s, out)
  for d = 1, NDIM do out[#out + 1] = fmt(s.used[d]) end
  for d = 1, NDIM do out[#out + 1] = fmt(s.res[d]) end
  for d = 1, NDIM do out[#out + 1] = fmt(s.credit[d]) end
end

-- Appends the commits counted and since when (activity of MemoryLedger).
local function act(s, out)
  local since = math.max(s.ws or -math.huge, s.born or -math.huge, s.ra or -math.huge)
  if since == -math.huge then since = 0 end
  out[#out + 1] = fmt(s.n)
  out[#out + 1] = fmt(since)
end

-- Adds a fired marker; false if it had already fired in this window.
local function fire(s, marker)
  if s.fired ~= '' and string.find(s.fired, '|' .. marker .. '|', 1, true) then return false end
  s.fired = (s.fired == '' and '|' or s.fired) .. marker .. '|'
  return true
end
`;
