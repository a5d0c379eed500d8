import { PRELUDE_LUA } from './prelude.lua.js';

// Release: drops the reservation from every ledger that still holds it, recording no usage, and
// forgets it if it had lapsed (MemoryLedgerStore.release).
// ARGV after the deadline: reservation id, now, budgets' windows (readWindows).
// Reply: { 'ok', server ms, released (0/1) } or { 'late', server ms }.
export const RELEASE_LUA = `${PRELUDE_LUA}
local srv, late = begin()
if late then return { 'late', fmt(srv) } end
local id = str()
local now = num()
local budgets = readWindows()
local released = 0
for i, b in ipairs(budgets) do
  local s = load(i, b, now, true)
  if s.exists and drop(s, id) then released = 1 end
  call('ZREM', s.M, 'l' .. id)
end
persistAll(now)
return { 'ok', fmt(srv), released }
`;
