import type { Amounts } from './budget.js';
import type { LedgerSnapshot, LedgerState } from './ledger-store.interface.js';
import type { MemoryLedger } from './memory-ledger.entry.js';

/** The snapshot of a ledger the store does not hold (it never had usage, or was evicted). */
export const EMPTY: LedgerSnapshot = Object.freeze({
  used: Object.freeze({}),
  reserved: Object.freeze({}),
});

/** A copy without zero entries, so a snapshot compares equal to a never-charged ledger's. */
export function nonZero(amounts: Amounts): Amounts {
  const out: Amounts = {};
  if (amounts.tokens) out.tokens = amounts.tokens;
  if (amounts.usd) out.usd = amounts.usd;
  if (amounts.requests) out.requests = amounts.requests;
  return out;
}

export function snapshotOf(ledger: MemoryLedger): LedgerSnapshot {
  const snapshot: LedgerSnapshot = {
    used: nonZero(ledger.used),
    reserved: nonZero(ledger.reserved),
  };
  if (ledger.credit !== undefined) {
    const credit = nonZero(ledger.credit);
    if (Object.keys(credit).length > 0) snapshot.credit = credit;
  }
  return snapshot;
}

export function stateOf(ledger: MemoryLedger): LedgerState {
  return { ...snapshotOf(ledger), ...ledger.activity() };
}
