import { type Budget, DEFAULT_FORECAST_HORIZON_MS, type Dimension } from './budget.js';
import { windowBounds } from './budget-window.js';
import { effectiveLimit } from './ledger-rules.js';
import type { LedgerActivity, LedgerSnapshot } from './ledger-store.interface.js';

// The burn rate is the usage counted so far divided by the time it took: since the window started,
// the ledger was first used, or it was last reset, whichever is latest. Both stores drop a ledger
// idle at its window's end, so in practice that is its first use in the window (docs/operations.md,
// "Forecasts"). It restarts with every window and reset, so a window's reset never carries the last
// window's pace into the new one.
// Two guards keep one large call from making a forecast on its own: at least FORECAST_MIN_COMMITS
// commits, and at least FORECAST_MIN_ELAPSED_MS (or a tenth of the span forecast, if shorter) of
// time behind the estimate.

/** Commits a ledger needs in its window before its burn rate is estimated. */
export const FORECAST_MIN_COMMITS = 3;

/** Time a burn rate needs behind it (a tenth of the window or horizon, if shorter). */
export const FORECAST_MIN_ELAPSED_MS = 60_000;

/** A budget's burn rate in one dimension, and where it leads. */
export interface Projection {
  /** Store units per millisecond; undefined while there is too little to estimate it. */
  rate: number | undefined;
  /** When the budget runs out at that rate (epoch ms); undefined with no rate or nothing spent. */
  exhaustion: number | undefined;
  /** The end of the current window (epoch ms); undefined for a budget without a window. */
  windowEnd: number | undefined;
  /** Whether the exhaustion comes before the window's end (or within the forecast horizon). */
  beforeEnd: boolean;
}

/** Projects when `budget` runs out in `dim`, from its ledger's state at `now`. */
export function project(
  budget: Budget,
  dim: Dimension,
  snapshot: LedgerSnapshot,
  activity: LedgerActivity | undefined,
  now: number,
): Projection {
  const bounds = budget.window && windowBounds(budget.window, now);
  const windowEnd = bounds?.end;
  // A budget built by hand (not by defineBudget) may lack a horizon.
  const horizon = budget.forecastHorizonMs ?? DEFAULT_FORECAST_HORIZON_MS;
  const horizonEnd = windowEnd ?? now + horizon;
  const none: Projection = { rate: undefined, exhaustion: undefined, windowEnd, beforeEnd: false };
  if (activity === undefined || activity.commits < FORECAST_MIN_COMMITS) return none;
  const elapsed = now - activity.since;
  const span = bounds ? bounds.end - bounds.start : horizon;
  if (elapsed <= 0 || elapsed < Math.min(FORECAST_MIN_ELAPSED_MS, span / 10)) return none;
  const used = snapshot.used[dim] ?? 0;
  const rate = used / elapsed;
  const left = effectiveLimit(budget, dim, snapshot.credit) - used;
  if (rate <= 0 || left <= 0) return { ...none, rate };
  const exhaustion = Math.ceil(now + left / rate);
  return { rate, exhaustion, windowEnd, beforeEnd: exhaustion < horizonEnd };
}
