import { PRELUDE_LUA } from './prelude.lua.js';

// Snapshot: each budget's state as of now, writing nothing (lapsed reservations, an idle ledger
// and a past window are discounted in the reply and cleaned up by the next write).
// ARGV after the deadline (always 0): now, budgets' windows (readWindows).
// Reply: { 'ok', server ms, snapshots }.
export const SNAPSHOT_LUA = `${PRELUDE_LUA}
local srv = begin()
local now = num()
local budgets = readWindows()
local snaps = {}
for i, b in ipairs(budgets) do snap(load(i, b, now, false), snaps) end
return { 'ok', fmt(srv), snaps }
`;
