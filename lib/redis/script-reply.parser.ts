import { type Amounts, DIMENSIONS, type Dimension } from '../core/budget.js';
import type {
  LedgerActivity,
  LedgerSnapshot,
  LedgerState,
} from '../core/ledger-store.interface.js';
import type { LuaScript } from './lua.script.js';
import { malformed } from './script.runner.js';

export const NDIM = DIMENSIONS.length;
/** Numbers per ledger in a snapshot reply: used, reserved and credit of each dimension. */
export const SNAP = 3 * NDIM;

// Reply checks: a reply that is not exactly what the script returns is an error, never a zero.

export function toNumber(value: unknown, script: LuaScript, reply: unknown): number {
  // Scripts send integers as integer replies and other numbers as strings (see rnum in the prelude).
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && value !== '') {
    const n = Number(value);
    if (Number.isFinite(n)) return n;
  }
  throw malformed(script, reply);
}

export function toIndex(value: unknown, size: number, script: LuaScript, reply: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < size)
    return value;
  throw malformed(script, reply);
}

export function toFlag(value: unknown, script: LuaScript, reply: unknown): boolean {
  if (value === 0 || value === 1) return value === 1;
  throw malformed(script, reply);
}

export function toSnapshots(
  value: unknown,
  count: number,
  script: LuaScript,
  reply: unknown,
): LedgerSnapshot[] {
  if (!Array.isArray(value) || value.length !== count * SNAP) throw malformed(script, reply);
  const out: LedgerSnapshot[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * SNAP;
    const snapshot: LedgerSnapshot = {
      used: toAmounts(value, at, script, reply),
      reserved: toAmounts(value, at + NDIM, script, reply),
    };
    // Credit is reported only when there is some, as the memory store does.
    const credit = toAmounts(value, at + 2 * NDIM, script, reply);
    if (Object.keys(credit).length > 0) snapshot.credit = credit;
    out.push(snapshot);
  }
  return out;
}

export function toActivity(
  value: unknown,
  count: number,
  script: LuaScript,
  reply: unknown,
): LedgerActivity[] {
  if (!Array.isArray(value) || value.length !== count * 2) throw malformed(script, reply);
  const out: LedgerActivity[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      commits: toNumber(value[2 * i], script, reply),
      since: toNumber(value[2 * i + 1], script, reply),
    });
  }
  return out;
}

/** One ledger's snapshot followed by its activity. */
export function toState(value: unknown, script: LuaScript, reply: unknown): LedgerState {
  if (!Array.isArray(value) || value.length !== SNAP + 2) throw malformed(script, reply);
  const [snapshot] = toSnapshots(value.slice(0, SNAP), 1, script, reply);
  const [activity] = toActivity(value.slice(SNAP), 1, script, reply);
  return { ...snapshot, ...activity };
}

export function toAmounts(list: unknown[], at: number, script: LuaScript, reply: unknown): Amounts {
  const out: Amounts = {};
  for (let d = 0; d < NDIM; d++) {
    const n = toNumber(list[at + d], script, reply);
    // Zero entries are left out, as the memory store does, so snapshots compare equal.
    if (n !== 0) out[DIMENSIONS[d] as Dimension] = n;
  }
  return out;
}
