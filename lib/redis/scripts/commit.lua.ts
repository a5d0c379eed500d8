import { PRELUDE_LUA } from './prelude.lua.js';

// Commit: settles the reservation once per ledger, adds actual usage and collects the thresholds
// first reached in this window (MemoryLedgerStore.commit and collectCrossings of
// lib/core/ledger-rules.ts). A ledger that holds the reservation drops it and records the usage;
// one that remembers it as lapsed records it; otherwise \`ifUnknown\` decides: 'c' (charge) records
// it, 's' (skip) does not unless the ledger has no state or started after reservedAt, 'o'
// (charge-once) records it unless it is remembered as charged, and remembers it. A commit that
// drops a held reservation remembers its id as charged until the reservation's expiry, so the
// same commit run twice records once.
// Siblings (CommitInput.siblings) come after the budgets: fired like them, on the ledger of the
// budget they share it with, which they neither charge nor touch.
// ARGV after the deadline: reservation id, ifUnknown (c, s or o), reservedAt ('' for none), actual
// (one per dimension), now, budgets, then the number of siblings and, for each, the index (from 1)
// of the budget whose ledger it shares and its spec (as a budget's).
// Reply: { 'ok', server ms, released (0/1), snapshots, crossings as (index, dimension, threshold
// index or -1 for exhaustion) triples from 0, activity (commits, since) pairs }, or { 'late', server ms };
// snapshots, crossings and activity cover the budgets, then the siblings.
export const COMMIT_LUA = `${PRELUDE_LUA}
local srv, late = begin()
if late then return { 'late', fmt(srv) } end
local id = str()
local mode = str()
local reservedAt = optnum()
local actual = {}
for d = 1, NDIM do actual[d] = num() end
local now = num()
local budgets = readBudgets()

-- Appends the thresholds and exhaustion of budget \`b\` (the i-th) first reached in ledger \`s\`
-- (collectCrossings of lib/core/ledger-rules.ts).
local function cross(i, s, b, crossings)
  for _, lim in ipairs(b.limits) do
    local value = s.used[lim.dim]
    for j = 1, #b.thr do
      if value < lim.at[j] then break end
      if fire(s, lim.mark .. '@' .. b.thr[j]) then
        crossings[#crossings + 1] = i - 1
        crossings[#crossings + 1] = lim.dim - 1
        crossings[#crossings + 1] = j - 1
      end
    end
    if value >= lim.limit and fire(s, lim.mark .. '@x') then
      crossings[#crossings + 1] = i - 1
      crossings[#crossings + 1] = lim.dim - 1
      crossings[#crossings + 1] = -1
    end
  end
end

local released, snaps, crossings, acts = 0, {}, {}, {}
for i, b in ipairs(budgets) do
  local s = load(i, b, now, true)
  touch(s, b, now)
  if not s.settled then
    s.settled = true
    local record = true
    local expires = redis.call('ZSCORE', s.Z, id)
    if drop(s, id) then
      released = 1
      -- A tombstone for as long as the reservation would have lived: the same script resent
      -- (ioredis after a connection blip, its reply lost) records nothing.
      if expires then mark(s, 'c' .. id, tonumber(expires)) end
    elseif kept(s, 'l' .. id, now) then
      redis.call('ZREM', s.M, 'l' .. id)
    elseif kept(s, 'c' .. id, now) then
      record = false
    elseif mode == 's' then
      -- Skip only where a first attempt could have recorded it: a ledger with state that started
      -- no later than the reservation (one evicted or lost since never held it).
      record = not s.existed or (reservedAt ~= nil and s.born ~= nil and s.born > reservedAt)
    elseif mode == 'o' then
      mark(s, 'c' .. id, now + MEMORY)
    end
    if record then
      -- A commit that used nothing does not count toward the forecast's minimum of commits.
      local any = false
      for d = 1, NDIM do
        s.used[d] = addUsage(s.used[d], actual[d])
        if actual[d] > 0 then any = true end
      end
      if any then s.n = s.n + 1 end
    end
  end
  cross(i, s, b, crossings)
  snap(s, snaps)
  act(s, acts)
end
-- Siblings: other declarations of a ledger loaded above (by the budget at \`owner\`), neither
-- charged nor touched; each fires what the ledger's usage reached under its own limits.
for k = 1, num() do
  local owner = num()
  local b = readBudget()
  local s = credited(states[KEYS[3 * owner - 2]], b)
  cross(#budgets + k, s, b, crossings)
  snap(s, snaps)
  act(s, acts)
end
persistAll(now)
return { 'ok', fmt(srv), released, snaps, crossings, acts }
`;
