import { AsyncLocalStorage } from 'node:async_hooks';
import type { Budget } from './budget.js';
import type { Ledger } from './ledger.js';
import { bindLazyResult, type FrameEntry } from './lazy-result.binder.js';

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
 * Runs `fn` with `budgets` open on top of the enclosing frame of the same ledger: a call made inside
 * is charged to, and checked against, every budget of the frame. Nested budgets of the same scope
 * and key both hold (an inner `session` of 100 inside an outer one of 1,000 refuses past 100); only
 * a declaration identical to one already open (see `sameBudget`) is not opened twice.
 *
 * A result that does its work after `fn` has returned (a generator, a stream, an Observable, a
 * promise of one of these) is bound to the frame: it runs inside these budgets for as long as it is
 * consumed (see `bindLazyResult`).
 */
export function runWithBudgets<T>(ledger: Ledger, budgets: readonly Budget[], fn: () => T): T {
  const enter = enterBudgets(ledger, budgets);
  return bindLazyResult(enter(fn), enter);
}

/**
 * The frame `runWithBudgets` would open here, as a function that runs code inside it (for callers
 * that combine it with frames of their own, such as the Nest request context).
 */
export function enterBudgets(ledger: Ledger, budgets: readonly Budget[]): FrameEntry {
  const parent = storage.getStore();
  const frame: BudgetFrame = { ledger, budgets: merge(parent, ledger, budgets) };
  // A lazy result may be consumed later inside another frame of the same ledger (a generator
  // made under a task budget, read under a user budget): its work is charged to both.
  return (fn) => {
    const current = storage.getStore();
    if (current === parent || current === frame || current?.ledger !== ledger) {
      return storage.run(frame, fn);
    }
    return storage.run({ ledger, budgets: merge(current, ledger, frame.budgets) }, fn);
  };
}

/** The budgets of `outer` (if it is a frame of `ledger`), then those of `budgets` not open there. */
function merge(
  outer: BudgetFrame | undefined,
  ledger: Ledger,
  budgets: readonly Budget[],
): readonly Budget[] {
  const merged = outer && outer.ledger === ledger ? [...outer.budgets] : [];
  for (const budget of budgets) {
    if (!merged.some((open) => sameBudget(open, budget))) merged.push(budget);
  }
  return merged;
}

/**
 * Whether two budgets are the same declaration: equal in every field (scope, key, window, limits,
 * policy, thresholds, ttl, maxReservation, degrade options; functions by identity).
 */
export function sameBudget(a: Budget, b: Budget): boolean {
  return a === b || sameValue(a, b);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  // A field set to undefined is the same as a field left out.
  const fields = (o: object) =>
    Object.entries(o).filter(([, value]) => value !== undefined) as [string, unknown][];
  const fieldsA = fields(a);
  const fieldsB = new Map(fields(b));
  return (
    fieldsA.length === fieldsB.size &&
    fieldsA.every(([key, value]) => fieldsB.has(key) && sameValue(value, fieldsB.get(key)))
  );
}
