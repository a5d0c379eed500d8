import { DIMENSIONS, MAX_AMOUNT } from '../../core/budget.js';
import { SETTLEMENT_MEMORY_MS } from '../../core/ledger-rules.js';

/** How long after its ledger-clock end Redis expires a key (see `ms` in the prelude). */
export const EXPIRY_GRACE_MS = 60_000;

// Hash fields a ledger can hold (ws, we, ev, f, b, n, ra and used, reserved, credit per dimension),
// and table constructors of that many nils: Lua 5.1 sizes a table by its constructor, so these
// are filled without growing.
const NFIELDS = 7 + 3 * DIMENSIONS.length;
const FIELDS_NILS = Array.from({ length: NFIELDS }, () => 'nil').join(', ');
const SET_NILS = Array.from({ length: 2 * NFIELDS }, () => 'nil').join(', ');

// Shared by every Tokencap script (it is prepended to each). Embedded as a string so `tsc` ships
// it in dist/ with no copy step. The rules mirror lib/core/ledger-rules.ts and the memory store
// (lib/core/memory-ledger.entry.ts, memory-ledger.store.ts) line for line; test/contract runs both
// stores through the same cases, and test/redis/redis-memory.equivalence.spec.ts random ones, so
// keep them in step.
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
local MAX = ${MAX_AMOUNT}
local MEMORY = ${SETTLEMENT_MEMORY_MS}
-- Hash fields in the order HMGET reads them: ws, we, ev, f, b, then u1..uN, then r1..rN, then
-- n, ra, then k1..kN (XF is the index before n).
local FIELDS = { 'ws', 'we', 'ev', 'f', 'b', ${DIMENSIONS.map((_, d) => `'u${d + 1}'`).join(', ')}, ${DIMENSIONS.map((_, d) => `'r${d + 1}'`).join(', ')}, 'n', 'ra', ${DIMENSIONS.map((_, d) => `'k${d + 1}'`).join(', ')} }
local NFIELDS = #FIELDS
local XF = 5 + 2 * NDIM
-- Globals read once per run: each global read is a table lookup, and the scripts make hundreds.
local tonumber, format, floor = tonumber, string.format, math.floor
local mmin, mmax, mceil, HUGE = math.min, math.max, math.ceil, math.huge
local sfind, gmatch, ssub = string.find, string.gmatch, string.sub
local ipairs, unpack, type, error = ipairs, unpack, type, error
local KEYS, ARGV = KEYS, ARGV
local call = redis.call

-- Arguments are read in order; argi is the last one read, lastArg its text.
-- Numbers are converted with \`+ 0\`, not tonumber: Lua 5.1's tonumber parses a string twice
-- (isnumber, then tonumber), and parsing is a fair part of a script's run. A non-number raises
-- Lua's own arithmetic error (the caller formats every number: lib/redis/script-args.encoder.ts).
local argi, lastArg = 1, nil
local function str()
  argi = argi + 1
  local v = ARGV[argi]
  if v == nil then return error('tokencap: missing argument ' .. argi) end
  return v
end
local function num()
  argi = argi + 1
  local a = ARGV[argi]
  if a == nil then return error('tokencap: missing argument ' .. argi) end
  local v = a + 0
  if v ~= v then return error('tokencap: argument ' .. argi .. ' is not a number') end
  lastArg = a
  return v
end
-- A number, or nil for ''.
local function optnum()
  local a = str()
  if a == '' then return nil end
  local v = a + 0
  if v ~= v then return error('tokencap: argument ' .. argi .. ' is not a number') end
  return v
end

local function fmt(n)
  if n == floor(n) and n > -1e15 and n < 1e15 then return format('%d', n) end
  return format('%.17g', n)
end
-- A number for a reply: an integer goes out as a Redis integer (exact: below 2^53), anything else
-- as its string (Redis would truncate it).
local function rnum(n)
  if n == floor(n) and n > -1e15 and n < 1e15 then return n end
  return format('%.17g', n)
end
-- Key TTLs: Redis expires a key GRACE ms after the ledger clock says it is done. The scripts
-- evict and lapse by the ledger clock themselves (ev, expiry scores), so the TTL is a backstop
-- that bounds memory and never pre-empts a replica whose clock lags by less than the grace.
local GRACE = ${EXPIRY_GRACE_MS}
-- A TTL in ms. Redis formats a number argument exactly while it is an integer below 1e14 (three
-- thousand years), which saves a string.format per key.
local function ms(x)
  local t = mmax(1, mceil(x)) + GRACE
  if t < 1e14 then return t end
  return fmt(t)
end
-- fmt(now) for the scores compared with now, formatted once per script.
local nowArg, nowArgOf = nil, nil
local function scoreNow(now)
  if nowArgOf ~= now then nowArg, nowArgOf = fmt(now), now end
  return nowArg
end
local function zero()
  return { ${DIMENSIONS.map(() => '0').join(', ')} }
end
local function parseAmounts(held)
  local t, d = zero(), 0
  for w in gmatch(held, '%S+') do
    d = d + 1
    t[d] = w + 0
  end
  return t
end
local function encodeAmounts(a)
  local parts = {}
  for d = 1, NDIM do parts[d] = fmt(a[d]) end
  return table.concat(parts, ' ')
end
-- used + amount, saturating at MAX (addUsage of ledger-rules.ts).
local function addUsage(used, amount) return mmin(used + amount, MAX) end

-- Server time, and whether the caller has already given up on this command (it was queued
-- while Redis was unreachable and is running late): a late command changes nothing.
local function begin()
  local t = call('TIME')
  local srv = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
  local deadline = tonumber(ARGV[1]) or 0
  return srv, deadline > 0 and srv > deadline
end

-- Each budget: its window's start and end at now ('' for none), evict ttl ms (0: none), policy
-- (h, d or n), maxReservation (0: none), the thresholds as written in fired markers, and its
-- limits: dimension index, limit, the marker prefix of that limit (markerPrefix), and the amount
-- at which each threshold counts as reached (thresholdAmount, computed by the caller).
local function readBudget()
  local b = {
    ws = optnum(), we = optnum(), evictTtl = num(), policy = str(), maxRes = num(),
    thr = nil, limits = nil,
  }
  local thr = {}
  for j = 1, num() do thr[j] = str() end
  b.thr = thr
  local nthr = #thr
  local limits = {}
  for k = 1, num() do
    -- Every field named in the constructor sizes the table once (credited adds declared).
    local lim = { dim = num(), limit = num(), mark = str(), at = nil, declared = nil }
    local at = {}
    for j = 1, nthr do at[j] = num() end
    lim.at = at
    limits[k] = lim
  end
  b.limits = limits
  return b
end

local function readBudgets()
  local n = num()
  local budgets = {}
  for i = 1, n do budgets[i] = readBudget() end
  return budgets
end

-- Budgets as reserve needs them (no thresholds): the count, then each budget's window start and
-- end, evict ttl, policy, maxReservation and limits as (dimension index, limit) pairs.
local function readLimits()
  local n = num()
  local budgets = {}
  for i = 1, n do
    local b = {
      ws = optnum(), we = optnum(), evictTtl = num(), policy = str(), maxRes = num(), limits = nil,
    }
    local limits = {}
    for k = 1, num() do limits[k] = { dim = num(), limit = num(), declared = nil } end
    b.limits = limits
    budgets[i] = b
  end
  return budgets
end

-- Budgets as the scripts that only read ledgers or drop reservations need them (snapshot,
-- release): the count, then each budget's window start and end ('' for none).
local function readWindows()
  local n = num()
  local budgets = {}
  for i = 1, n do budgets[i] = { ws = optnum(), we = optnum() } end
  return budgets
end

-- Loaded ledgers by key, so budgets sharing a ledger share one state (held and charged once);
-- \`order\` lists them for persist.
local states, order = {}, {}

local function mark(s, member, untilMs)
  call('ZADD', s.M, fmt(untilMs), member)
  s.marked = true
end

-- Raises a budget's limits by the window's credit (effectiveLimit of ledger-rules.ts), with the
-- threshold amounts that follow (thresholdAmount); markers keep naming the declared limit. Budgets
-- read without thresholds (readLimits) or limits (readWindows) skip what they lack.
local function credited(s, b)
  local limits = b.limits
  if not limits then return s end
  local credit, thr = s.credit, b.thr
  for _, lim in ipairs(limits) do
    local declared = lim.declared
    if not declared then
      declared = lim.limit
      lim.declared = declared
    end
    local c = credit[lim.dim]
    lim.limit = mmin(declared + c, MAX)
    if c > 0 and thr then
      for j = 1, #thr do lim.at[j] = mceil(tonumber(thr[j]) * lim.limit - 1e-9) end
    end
  end
  return s
end

-- A budget's ledger as of \`now\`: lapses expired reservations (remembering each), evicts an idle
-- ledger (past its evict-at with nothing in flight), rolls the window forward. With \`write\`
-- false nothing is written. \`s.was\` keeps the hash fields as read (numbers; f as a string), so
-- persist writes only what changed.
local function load(i, b, now, write)
  local L = KEYS[3 * i - 2]
  local s = states[L]
  if s then return credited(s, b) end
  local Z = KEYS[3 * i - 1]
  -- Every field a state ever gets is named here, so the table is sized once, not grown (and
  -- rehashed) field by field: table growth was a tenth of a script's run.
  s = {
    L = L, Z = Z, M = KEYS[3 * i], fired = '', exists = false, was = nil, ws = nil, we = nil,
    ev = nil, born = nil, used = nil, res = nil, credit = nil, n = nil, ra = nil, existed = nil,
    touched = nil, held = nil, settled = nil, marked = nil,
  }
  local v = call('HMGET', L, unpack(FIELDS))
  local was = { ${FIELDS_NILS} }
  for k = 1, NFIELDS do
    local x = v[k]
    if x then
      s.exists = true
      -- Fields this script wrote: numbers, but for f (k == 4).
      if k == 4 then was[k] = x else was[k] = x + 0 end
    end
  end
  s.was = was
  s.ws, s.we, s.ev, s.born = was[1], was[2], was[3], was[5]
  if was[4] then s.fired = was[4] end
  local used, res, credit = zero(), zero(), zero()
  for d = 1, NDIM do
    used[d] = was[5 + d] or 0
    res[d] = was[5 + NDIM + d] or 0
    credit[d] = was[XF + 2 + d] or 0
  end
  s.used, s.res, s.credit = used, res, credit
  s.n, s.ra = was[XF + 1] or 0, was[XF + 2]
  local live = call('ZCARD', Z)
  if live > 0 then
    local expired = call('ZRANGEBYSCORE', Z, '-inf', scoreNow(now), 'WITHSCORES')
    if #expired > 0 then
      live = live - #expired / 2
      for k = 1, #expired, 2 do
        local id = expired[k]
        local held = call('HGET', L, '#' .. id)
        if held then
          local a = parseAmounts(held)
          for d = 1, NDIM do res[d] = res[d] - a[d] end
          if write then call('HDEL', L, '#' .. id) end
        end
        if write then mark(s, 'l' .. id, expired[k + 1] + MEMORY) end
      end
      if write then call('ZREMRANGEBYSCORE', Z, '-inf', scoreNow(now)) end
    end
  end
  -- With nothing held, reserved is exactly zero (as in the memory store), whatever rounding did.
  if live == 0 then s.res = zero() end
  if s.ev and s.ev <= now and live == 0 then
    if write and s.exists then
      call('DEL', L)
      s.was = {}
    end
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
  local held = call('HGET', s.L, '#' .. id)
  if not held then return false end
  local a = parseAmounts(held)
  for d = 1, NDIM do s.res[d] = s.res[d] - a[d] end
  call('HDEL', s.L, '#' .. id)
  call('ZREM', s.Z, id)
  if call('ZCARD', s.Z) == 0 then s.res = zero() end
  return true
end

-- A mark's end, if it is still kept at now.
local function kept(s, member, now)
  local score = call('ZSCORE', s.M, member)
  if score and score + 0 > now then return true end
  return false
end

-- A hash field to write: set when its value differs from what load read, deleted when it is
-- empty (nil, '', or a zero that is not kept) and was there.
local function put(w, k, value, keepZero)
  local old = w.was[k]
  if value == nil or value == '' or (value == 0 and not keepZero) then
    if old ~= nil then w.del[#w.del + 1] = FIELDS[k] end
  elseif old ~= value then
    local set = w.set
    set[#set + 1] = FIELDS[k]
    set[#set + 1] = type(value) == 'number' and fmt(value) or value
  end
end

-- Writes a ledger back and sets its keys' TTLs: the ledger lives until its evict-at or its last
-- reservation's expiry, whichever is later; the index until its last reservation's expiry plus
-- MEMORY (so a reservation lapsing while its ledger is idle is still remembered); the marks until
-- the last one is forgotten.
local function persist(s, now)
  if s.marked then
    call('ZREMRANGEBYSCORE', s.M, '-inf', scoreNow(now))
    local lastMark = call('ZRANGE', s.M, -1, -1, 'WITHSCORES')
    if lastMark[2] then call('PEXPIRE', s.M, ms(lastMark[2] - now)) end
  end
  if not s.exists then return end
  local w = { was = s.was, set = { ${SET_NILS} }, del = {} }
  put(w, 1, s.ws, true)
  put(w, 2, s.we, true)
  put(w, 3, s.ev)
  put(w, 4, s.fired)
  put(w, 5, s.born, true)
  for d = 1, NDIM do
    put(w, 5 + d, s.used[d])
    put(w, 5 + NDIM + d, s.res[d])
    put(w, XF + 2 + d, s.credit[d])
  end
  put(w, XF + 1, s.n)
  put(w, XF + 2, s.ra)
  if #w.set > 0 then call('HSET', s.L, unpack(w.set)) end
  if #w.del > 0 then call('HDEL', s.L, unpack(w.del)) end
  local keepUntil = s.ev or HUGE
  local last = call('ZRANGE', s.Z, -1, -1, 'WITHSCORES')
  if last[2] then
    local at = last[2] + 0
    call('PEXPIRE', s.Z, ms(at + MEMORY - now))
    if at > keepUntil then keepUntil = at end
  end
  if keepUntil == HUGE then
    call('PERSIST', s.L)
  else
    call('PEXPIRE', s.L, ms(keepUntil - now))
  end
end

local function persistAll(now)
  for _, s in ipairs(order) do persist(s, now) end
end

-- Appends used, then reserved, then credit, of every dimension (integers as integers, see rnum).
local function snap(s, list)
  local n, used, res, credit = #list, s.used, s.res, s.credit
  for d = 1, NDIM do list[n + d] = rnum(used[d]) end
  for d = 1, NDIM do list[n + NDIM + d] = rnum(res[d]) end
  for d = 1, NDIM do list[n + 2 * NDIM + d] = rnum(credit[d]) end
end

-- Appends the commits counted and since when (activity of MemoryLedger).
local function act(s, list)
  local since = mmax(s.ws or -HUGE, s.born or -HUGE, s.ra or -HUGE)
  if since == -HUGE then since = 0 end
  local n = #list
  list[n + 1] = rnum(s.n)
  list[n + 2] = rnum(since)
end

-- Adds a fired marker; false if it had already fired in this window.
local function fire(s, marker)
  if s.fired ~= '' and sfind(s.fired, '|' .. marker .. '|', 1, true) then return false end
  s.fired = (s.fired == '' and '|' or s.fired) .. marker .. '|'
  return true
end
`;
