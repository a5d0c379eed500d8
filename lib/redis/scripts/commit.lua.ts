import { PRELUDE_LUA } from './prelude.lua.js';

// Commit: drops the reservation (if still held), adds actual usage and collects the thresholds
// first reached in this window (collectCrossings of lib/core/ledger-rules.ts).
// ARGV after the deadline: reservation id, actual (one per dimension), now, budgets.
// Reply: { 'ok', server ms, released (0/1), snapshots, crossings as (index, dimension, threshold
// index or -1 for exhaustion) triples from 0 }, or { 'late', server ms }.
export const COMMIT_LUA = `${PRELUDE_LUA}
local srv, late = begin()
if late then return { 'late', fmt(srv) } end
local id = str()
local actual = {}
for d = 1, NDIM do actual[d] = num() end
local now = num()
local budgets = readBudgets()

local released, snaps, crossings = 0, {}, {}
for i, b in ipairs(budgets) do
  local s = load(i, b, now, true)
  touch(s, b, now)
  if drop(s, id) then released = 1 end
  for d = 1, NDIM do s.used[d] = s.used[d] + actual[d] end
  for _, lim in ipairs(b.limits) do
    local value = s.used[lim.dim]
    local name = DIM[lim.dim]
    for j = 1, #b.thr do
      if value < lim.at[j] then break end
      if fire(s, name .. '@' .. b.thr[j]) then
        crossings[#crossings + 1] = i - 1
        crossings[#crossings + 1] = lim.dim - 1
        crossings[#crossings + 1] = j - 1
      end
    end
    if value >= lim.limit and fire(s, name .. '@x') then
      crossings[#crossings + 1] = i - 1
      crossings[#crossings + 1] = lim.dim - 1
      crossings[#crossings + 1] = -1
    end
  end
  snap(s, snaps)
end
persistAll(now)
return { 'ok', fmt(srv), released, snaps, crossings }
`;
