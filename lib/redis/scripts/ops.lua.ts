import { DIMENSIONS } from '../../core/budget.js';
import { PRELUDE_LUA } from './prelude.lua.js';

// Operations on one budget's ledger outside any call (MemoryLedgerStore.reset, credit, claim and
// inspect). Each runs atomically with the reserve and commit scripts, so calls in flight see the
// ledger before or after, never half.

// Removes a fired marker, if present (the inverse of fire).
const UNFIRE_LUA = `
local function unfire(s, marker)
  local i, j = sfind(s.fired, '|' .. marker .. '|', 1, true)
  if not i then return end
  s.fired = ssub(s.fired, 1, i) .. ssub(s.fired, j + 1)
  if s.fired == '|' then s.fired = '' end
end
`;

// Reset: clears the window's usage, fired markers and commit count, and records when (so the burn
// rate restarts); reservations in flight and credit stay. A ledger with no state is left alone.
// ARGV after the deadline: now, one budget.
// Reply: { 'ok', server ms, cleared usage (one per dimension), state (snapshot then activity) }.
export const RESET_LUA = `${PRELUDE_LUA}
local srv, late = begin()
if late then return { 'late', fmt(srv) } end
local now = num()
local budgets = readBudgets()
local s = load(1, budgets[1], now, true)
local cleared = {}
for d = 1, NDIM do cleared[d] = fmt(s.used[d]) end
if s.exists then
  s.used, s.fired, s.n, s.ra = zero(), '', 0, now
end
persistAll(now)
local state = {}
snap(s, state)
act(s, state)
return { 'ok', fmt(srv), cleared, state }
`;

// Credit: adds to the window's credit (saturating like usage), then forgets the budget's markers
// that usage no longer reaches under the raised limit, and its forecasts (rearmAfterCredit).
// ARGV after the deadline: amounts (one per dimension), now, one budget.
// Reply: { 'ok', server ms, state }.
export const CREDIT_LUA = `${PRELUDE_LUA}${UNFIRE_LUA}
local DIM_INDEX = { ${DIMENSIONS.map((d, i) => `${d} = ${i + 1}`).join(', ')} }
local srv, late = begin()
if late then return { 'late', fmt(srv) } end
local amounts = {}
for d = 1, NDIM do amounts[d] = num() end
local now = num()
local budgets = readBudgets()
local b = budgets[1]
local s = load(1, b, now, true)
touch(s, b, now)
for d = 1, NDIM do s.credit[d] = addUsage(s.credit[d], amounts[d]) end
credited(s, b)
for _, lim in ipairs(b.limits) do
  local value = s.used[lim.dim]
  for j = 1, #b.thr do
    if value < lim.at[j] then unfire(s, lim.mark .. '@' .. b.thr[j]) end
  end
  if value < lim.limit then unfire(s, lim.mark .. '@x') end
  unfire(s, lim.mark .. '@f')
end
-- The markers of the ledger's other declarations (other limits) too (rearmLedgerAfterCredit).
if s.fired ~= '' then
  local gone = {}
  for m in gmatch(s.fired, '[^|]+') do
    local name, declared, thr = string.match(m, '^(%a+):(%d+)@(.+)$')
    local d = name and DIM_INDEX[name]
    if d then
      local value = s.used[d]
      local limit = mmin(tonumber(declared) + s.credit[d], MAX)
      if thr == 'f' then
        gone[#gone + 1] = m
      elseif thr == 'x' then
        if value < limit then gone[#gone + 1] = m end
      else
        local t = tonumber(thr)
        if t and value < mceil(t * limit - 1e-9) then gone[#gone + 1] = m end
      end
    end
  end
  for _, m in ipairs(gone) do unfire(s, m) end
end
persistAll(now)
local state = {}
snap(s, state)
act(s, state)
return { 'ok', fmt(srv), state }
`;

// Claim: adds a marker to the window's fired markers, once across replicas.
// ARGV after the deadline: marker, now, one budget.
// Reply: { 'ok', server ms, 1 if added or 0 if it was there }.
export const CLAIM_LUA = `${PRELUDE_LUA}
local srv, late = begin()
if late then return { 'late', fmt(srv) } end
local marker = str()
local now = num()
local budgets = readBudgets()
local s = load(1, budgets[1], now, true)
touch(s, budgets[1], now)
local won = 0
if fire(s, marker) then won = 1 end
persistAll(now)
return { 'ok', fmt(srv), won }
`;

// Inspect: the snapshot script with each ledger's activity, writing nothing.
// ARGV after the deadline (always 0): now, budgets.
// Reply: { 'ok', server ms, snapshots, activity pairs }.
export const INSPECT_LUA = `${PRELUDE_LUA}
local srv = begin()
local now = num()
local budgets = readBudgets()
local snaps, acts = {}, {}
for i, b in ipairs(budgets) do
  local s = load(i, b, now, false)
  snap(s, snaps)
  act(s, acts)
end
return { 'ok', fmt(srv), snaps, acts }
`;
