import { PRELUDE_LUA } from './prelude.lua.js';

// Extend: moves a held reservation's expiry to expiresAt (a lease still covering calls in flight
// near its end); a reservation no longer held is left alone.
// ARGV after the deadline: reservation id, expiresAt, now, budgets' windows (readWindows).
// Reply: { 'ok', server ms, extended (0/1) } or { 'late', server ms }.
export const EXTEND_LUA = `${PRELUDE_LUA}
local srv, late = begin()
if late then return { 'late', fmt(srv) } end
local id = str()
local expiresAt = num()
local now = num()
local budgets = readWindows()
local extended = 0
for i, b in ipairs(budgets) do
  local s = load(i, b, now, true)
  if s.exists and call('HEXISTS', s.L, '#' .. id) == 1 then
    call('ZADD', s.Z, 'XX', fmt(expiresAt), id)
    extended = 1
  end
end
persistAll(now)
return { 'ok', fmt(srv), extended }
`;
