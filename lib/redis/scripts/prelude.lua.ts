import { DIMENSIONS } from '../../core/budget.js';

/** How long after its ledger-clock end Redis expires a key (see `ms` in the prelude). */
export const EXPIRY_GRACE_MS = 60_000;

// Shared by every Tokencap script (it is prepended to each). Embedded as a string so `tsc` ships
// it in dist/ with no copy step. The rules mirror lib/core/ledger-rules.ts and
// lib/core/memory-ledger.store.ts line for line; test/contract runs both stores through the same
// cases, so keep them in step.
//
// KEYS: for each budget, its ledger hash, then its reservation index (a sorted set).
//   ledger hash fields: ws (window start), ev (evict-at, ledger clock), f (fired markers, as
//   '|tokens@0.8|tokens@x|'), u1..uN (used), r1..rN (reserved), and '#<reservation id>' holding
//   the reserved amounts ('a1 a2 a3').
//   reservation index: reservation id -> its expiresAt.
// ARGV: [1] deadline in server ms (0: none), then the script's own arguments, then `now`, the
//   number of budgets and each budget's spec (see readBudgets).
// Every number goes in and out as a string: Lua numbers are doubles, and Redis would truncate a
// returned number to an integer.
export const PRELUDE_LUA = `
if redis.replicate_commands then redis.replicate_commands() end

local NDIM = ${DIMENSIONS.length}
local DIM = { ${DIMENSIONS.map((d) => `'${d}'`).join(', ')} }
local FIELDS = { 'ws', 'ev', 'f' }
for d = 1, NDIM do FIELDS[3 + d] = 'u' .. d; FIELDS[3 + NDIM + d] = 'r' .. d end

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

-- Server time, and whether the caller has already given up on this command (it was queued
-- while Redis was unreachable and is running late): a late command changes nothing.
local function begin()
  local t = redis.call('TIME')
  local srv = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local deadline = tonumber(ARGV[1]) or 0
  return srv, deadline > 0 and srv > deadline
end

-- Each budget: window ms (0: none), evict ttl ms (0: none), policy (h, d or n), maxReservation
-- (0: none), the thresholds as written in fired markers, and its limits: dimension index, limit,
-- and the amount at which each threshold counts as reached (thresholdAmount, computed by the caller).
local function readBudgets()
  local n = num()
  local budgets = {}
  for i = 1, n do
    local b = {}
    b.window = num()
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
      lim.at = {}
      for j = 1, #b.thr do lim.at[j] = num() end
      b.limits[k] = lim
    end
    budgets[i] = b
  end
  return budgets
end

-- Loaded ledgers by key, so a budget named twice in one call shares one state; \`order\` lists
-- them for persist.
local states, order = {}, {}

-- A budget's ledger as of \`now\`: lapses expired reservations, evicts an idle ledger (past its
-- evict-at with nothing in flight), rolls the window. With \`write\` false nothing is written.
local function load(i, b, now, write)
  local L = KEYS[2 * i - 1]
  local s = states[L]
  if s then return s end
  local Z = KEYS[2 * i]
  s = { L = L, Z = Z, used = zero(), res = zero(), fired = '', exists = false }
  local v = redis.call('HMGET', L, unpack(FIELDS))
  for k = 1, #FIELDS do
    if v[k] then s.exists = true end
  end
  if v[1] then s.ws = tonumber(v[1]) end
  if v[2] then s.ev = tonumber(v[2]) end
  if v[3] then s.fired = v[3] end
  for d = 1, NDIM do
    if v[3 + d] then s.used[d] = tonumber(v[3 + d]) end
    if v[3 + NDIM + d] then s.res[d] = tonumber(v[3 + NDIM + d]) end
  end
  local expired = redis.call('ZRANGEBYSCORE', Z, '-inf', fmt(now))
  local live = redis.call('ZCARD', Z) - #expired
  for _, id in ipairs(expired) do
    local held = redis.call('HGET', L, '#' .. id)
    if held then
      local a = parseAmounts(held)
      for d = 1, NDIM do s.res[d] = s.res[d] - a[d] end
      if write then redis.call('HDEL', L, '#' .. id) end
    end
  end
  if write and #expired > 0 then redis.call('ZREMRANGEBYSCORE', Z, '-inf', fmt(now)) end
  -- With nothing held, reserved is exactly zero (as in the memory store), whatever rounding did.
  if live == 0 then s.res = zero() end
  if s.ev and s.ev <= now and live == 0 then
    if write and s.exists then redis.call('DEL', L) end
    s.used, s.res, s.fired, s.ws, s.ev, s.exists = zero(), zero(), '', nil, nil, false
  end
  if b.window > 0 then
    local start = now - math.fmod(now, b.window)
    if s.ws ~= start then
      s.ws = start
      s.used = zero()
      s.fired = ''
    end
  end
  states[L] = s
  order[#order + 1] = s
  return s
end

-- Marks the ledger as used at \`now\`: it lives until now + ttl, or its window's end.
local function touch(s, b, now)
  s.exists = true
  if b.evictTtl > 0 then
    s.ev = now + b.evictTtl
  elseif b.window > 0 then
    s.ev = s.ws + b.window
  else
    s.ev = nil
  end
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

-- Writes a ledger back and sets its keys' TTLs: the ledger lives until its evict-at or its last
-- reservation's expiry, whichever is later; the index until its last reservation's expiry.
local function persist(s, now)
  if not s.exists then return end
  local set, del = {}, {}
  local function put(field, value)
    if value == nil or value == 0 or value == '' then
      del[#del + 1] = field
    else
      set[#set + 1] = field
      set[#set + 1] = type(value) == 'number' and fmt(value) or value
    end
  end
  put('ws', s.ws)
  put('ev', s.ev)
  put('f', s.fired)
  for d = 1, NDIM do
    put('u' .. d, s.used[d])
    put('r' .. d, s.res[d])
  end
  if #set > 0 then redis.call('HSET', s.L, unpack(set)) end
  if #del > 0 then redis.call('HDEL', s.L, unpack(del)) end
  local keepUntil = s.ev or math.huge
  local last = redis.call('ZRANGE', s.Z, -1, -1, 'WITHSCORES')
  if last[2] then
    local at = tonumber(last[2])
    redis.call('PEXPIRE', s.Z, ms(at - now))
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

-- Appends used, then reserved, of every dimension.
local function snap(s, out)
  for d = 1, NDIM do out[#out + 1] = fmt(s.used[d]) end
  for d = 1, NDIM do out[#out + 1] = fmt(s.res[d]) end
end

-- Adds a fired marker; false if it had already fired in this window.
local function fire(s, marker)
  if s.fired ~= '' and string.find(s.fired, '|' .. marker .. '|', 1, true) then return false end
  s.fired = (s.fired == '' and '|' or s.fired) .. marker .. '|'
  return true
end
`;
