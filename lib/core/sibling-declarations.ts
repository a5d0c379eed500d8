import type { Budget } from './budget.js';
import { windowBounds } from './budget-window.js';
import { ledgerIdOf } from './ledger-id.js';

/** Other declarations of a budget's ledger that a framework knows of (see {@link SiblingDeclarations}). */
export type SiblingSource = (budget: Budget) => readonly Budget[] | undefined;

interface Seen {
  readonly budget: Budget;
  /** Until when it counts: its window's end, `ttl` after it was last seen, or forever. */
  until: number;
}

/**
 * Ledgers whose declarations are remembered (at least half as many, at most this many): those
 * used least recently are forgotten first.
 */
const MAX_LEDGERS = 10_000;
/** Declarations remembered per ledger; the oldest is forgotten first. */
const MAX_PER_LEDGER = 16;

/**
 * The declarations that share a ledger with a call's budgets, so that usage charged through one
 * fires the thresholds of the others (`CommitInput.siblings`): those this Ledger saw charged or
 * refused on that very ledger (same scope, key and window: a per-tenant limit never reaches another
 * tenant) in its current window, and those its sources name (the Nest module names the app's
 * `@Budget` declarations of the scope and window). Memory is bounded: {@link MAX_LEDGERS} ledgers,
 * least recently used forgotten first, {@link MAX_PER_LEDGER} declarations each.
 *
 * Two declarations with the same limits and thresholds fire the same markers, so they count as one.
 */
export class SiblingDeclarations {
  // Recency in two generations: a hit in the older moves the ledger to the younger; a full younger
  // one becomes the older, and the older is dropped. A commit costs a lookup, not a reordering.
  private young = new Map<string, Seen[]>();
  private old = new Map<string, Seen[]>();
  private readonly sources: SiblingSource[] = [];

  addSource(source: SiblingSource): void {
    this.sources.push(source);
  }

  /**
   * The other declarations of the ledgers of `budgets` (none of them declares the same limits and
   * thresholds on that ledger), or undefined when there are none; and records `budgets` as seen.
   */
  siblingsOf(budgets: readonly Budget[], now: number): Budget[] | undefined {
    let out: Budget[] | undefined;
    for (let i = 0; i < budgets.length; i++) {
      const budget = budgets[i];
      const id = ledgerIdOf(budget);
      const list = this.listOf(id, now);
      if (!sharedEarlier(budgets, i, id)) {
        for (const seen of list) out = add(out, seen.budget, id, budgets);
        for (const source of this.sources) {
          for (const sibling of source(budget) ?? []) out = add(out, sibling, id, budgets);
        }
      }
      this.note(list, budget, now);
    }
    return out;
  }

  /** Records `budget` as a declaration of its ledger, seen at `now` (a refused call). */
  record(budget: Budget, now: number): void {
    this.note(this.listOf(ledgerIdOf(budget), now), budget, now);
  }

  /** The live declarations of ledger `id` (expired ones dropped), made recently used. */
  private listOf(id: string, now: number): Seen[] {
    let list = this.young.get(id);
    if (list === undefined) {
      list = this.old.get(id) ?? [];
      if (this.young.size >= MAX_LEDGERS / 2) {
        this.old = this.young;
        this.young = new Map();
      }
      this.young.set(id, list);
    }
    for (let i = list.length - 1; i >= 0; i--) if (list[i].until <= now) list.splice(i, 1);
    return list;
  }

  private note(list: Seen[], budget: Budget, now: number): void {
    for (const seen of list) {
      if (!sameMarkers(seen.budget, budget)) continue;
      if (budget.ttlMs !== undefined && budget.window === undefined) {
        seen.until = now + budget.ttlMs;
      }
      return;
    }
    if (list.length >= MAX_PER_LEDGER) list.shift();
    list.push({ budget, until: untilOf(budget, now) });
  }
}

function untilOf(budget: Budget, now: number): number {
  if (budget.window !== undefined) return windowBounds(budget.window, now).end;
  return budget.ttlMs === undefined ? Infinity : now + budget.ttlMs;
}

/** Whether a budget before `i` in `budgets` charges ledger `id` too (its siblings are listed). */
function sharedEarlier(budgets: readonly Budget[], i: number, id: string): boolean {
  for (let j = 0; j < i; j++) if (ledgerIdOf(budgets[j]) === id) return true;
  return false;
}

/** `out` with `sibling` of ledger `id` added, unless the call or `out` declares it already. */
function add(
  out: Budget[] | undefined,
  sibling: Budget,
  id: string,
  budgets: readonly Budget[],
): Budget[] | undefined {
  // Never another ledger's (another key's, another window's) declaration.
  if (ledgerIdOf(sibling) !== id) return out;
  for (const b of budgets) if (sameMarkers(b, sibling) && ledgerIdOf(b) === id) return out;
  if (out) for (const b of out) if (sameMarkers(b, sibling) && ledgerIdOf(b) === id) return out;
  (out ??= []).push(sibling);
  return out;
}

/** Whether two declarations fire the same markers: the same limits and thresholds. */
export function sameMarkers(a: Budget, b: Budget): boolean {
  if (a === b) return true;
  if (a.limits !== b.limits) {
    const keys = Object.keys(a.limits) as (keyof Budget['limits'])[];
    if (keys.length !== Object.keys(b.limits).length) return false;
    for (const k of keys) if (a.limits[k] !== b.limits[k]) return false;
  }
  if (a.thresholds !== b.thresholds) {
    if (a.thresholds.length !== b.thresholds.length) return false;
    for (let i = 0; i < a.thresholds.length; i++) {
      if (a.thresholds[i] !== b.thresholds[i]) return false;
    }
  }
  return true;
}
