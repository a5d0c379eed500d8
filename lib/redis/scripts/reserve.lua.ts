import { PRELUDE_LUA } from './prelude.lua.js';

// Reserve, all or nothing on every budget: decideReservation of lib/core/ledger-rules.ts, holding
// the call once on each ledger (budgets sharing a ledger are each checked, and held once).
// ARGV after the deadline: reservation id, expiresAt, base (one per dimension, '' when absent),
// perUnit (same), need (ceil(base + min × perUnit), one per dimension), units min, max ('inf'
// when unbounded), ifUnbounded, now, budgets' limits (readLimits).
// Reply: { 'ok', server ms, units, snapshots } or { 'no', server ms, index, dimension, requested,
// snapshot of that budget } (indexes from 0), or { 'late', server ms }.
export const RESERVE_LUA = `${PRELUDE_LUA}
local srv, late = begin()
if late then return { 'late', fmt(srv) } end
local id = str()
local expiresAt = num()
local base, per, need = {}, {}, {}
for d = 1, NDIM do
  local v = str()
  if v ~= '' then base[d] = tonumber(v) end
end
for d = 1, NDIM do
  local v = str()
  if v ~= '' then per[d] = tonumber(v) end
end
for d = 1, NDIM do need[d] = num() end
local minUnits = num()
local maxArg = str()
local maxUnits = HUGE
if maxArg ~= 'inf' then maxUnits = tonumber(maxArg) end
local ifUnbounded = num()
local now = num()
local budgets = readLimits()

local st = {}
for i, b in ipairs(budgets) do
  st[i] = load(i, b, now, true)
  touch(st[i], b, now)
end

local function refuse(i, d)
  persistAll(now)
  local out = { 'no', fmt(srv), i - 1, d - 1, fmt(need[d]) }
  snap(st[i], out)
  return out
end

local max = maxUnits
local maxRes = HUGE
for i, b in ipairs(budgets) do
  if b.policy ~= 'n' then
    local s = st[i]
    for _, lim in ipairs(b.limits) do
      local d = lim.dim
      local held = s.used[d] + s.res[d]
      if b.policy == 'd' then
        if s.used[d] >= lim.limit then return refuse(i, d) end
      else
        if held + need[d] > lim.limit then return refuse(i, d) end
        local p = per[d] or 0
        if p > 0 then max = mmin(max, floor((lim.limit - held - (base[d] or 0)) / p)) end
      end
    end
    if b.maxRes > 0 then maxRes = mmin(maxRes, b.maxRes) end
  end
end

local function amountsFor(units)
  local a = zero()
  for d = 1, NDIM do
    if base[d] then a[d] = mmin(base[d], MAX) end
  end
  if units > 0 then
    for d = 1, NDIM do
      if per[d] then a[d] = mmin(mceil(a[d] + units * per[d]), MAX) end
    end
  end
  return a
end

local function fits(a)
  for i, b in ipairs(budgets) do
    if b.policy == 'h' then
      local s = st[i]
      for _, lim in ipairs(b.limits) do
        if s.used[lim.dim] + s.res[lim.dim] + a[lim.dim] > lim.limit then return false end
      end
    end
  end
  return true
end

local granted = ifUnbounded
if max ~= HUGE then granted = mmax(minUnits, max) end
granted = mmax(minUnits, mmin(granted, maxRes))
local amounts = amountsFor(granted)
while granted > minUnits and not fits(amounts) do
  granted = granted - 1
  amounts = amountsFor(granted)
end

local held = encodeAmounts(amounts)
for i = 1, #budgets do
  local s = st[i]
  -- Budgets sharing a ledger hold the call once.
  if not s.held then
    s.held = true
    -- A reservation id reserved again replaces its earlier hold instead of adding to it.
    if call('HSETNX', s.L, '#' .. id, held) == 0 then
      local a = parseAmounts(call('HGET', s.L, '#' .. id))
      for d = 1, NDIM do s.res[d] = s.res[d] - a[d] end
      call('HSET', s.L, '#' .. id, held)
    end
    call('ZADD', s.Z, fmt(expiresAt), id)
    for d = 1, NDIM do s.res[d] = s.res[d] + amounts[d] end
  end
end
persistAll(now)
local snaps = {}
for i = 1, #budgets do snap(st[i], snaps) end
return { 'ok', fmt(srv), fmt(granted), snaps }
`;
