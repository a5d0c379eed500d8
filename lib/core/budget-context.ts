import { AsyncLocalStorage } from 'node:async_hooks';
import type { Budget } from './budget.js';
import type { Ledger } from './ledger.js';

/** The budgets open around the running code, and the ledger (of one app) that charges them. */
export interface BudgetFrame {
  readonly ledger: Ledger;
  /** Outermost first; a call is charged to every one. */
  readonly budgets: readonly Budget[];
}

// The storage only carries frames; all state lives in the frame's own Ledger, so two apps in one
// process never see each other's budgets. It is module-level because `wrapOpenAI(new OpenAI())`
// is typically called outside any DI container and must still find the caller's frame.
const storage = new AsyncLocalStorage<BudgetFrame>();

/** The innermost open frame, if any. */
export function currentFrame(): BudgetFrame | undefined {
  return storage.getStore();
}

/**
 * Runs `fn` with `budgets` open on top of the enclosing frame of the same ledger (nested budgets
 * charge every enclosing one). A budget already open (same id) is not opened twice.
 */
export function runWithBudgets<T>(ledger: Ledger, budgets: readonly Budget[], fn: () => T): T {
  const parent = storage.getStore();
  const inherited = parent && parent.ledger === ledger ? parent.budgets : [];
  const merged = [...inherited];
  for (const budget of budgets) {
    if (!merged.some((b) => b.id === budget.id)) merged.push(budget);
  }
  return storage.run({ ledger, budgets: merged }, fn);
}
