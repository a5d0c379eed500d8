import { Observable, Subject } from 'rxjs';
import { type Budget, type Dimension, toUserUnits } from './budget.js';
import { usageOf } from './budget-usage.builder.js';
import type { SettledCall, TokencapEvent, UsageDetails } from './events.js';
import { project } from './forecast.js';
import { ledgerIdOf } from './ledger-id.js';
import { effectiveLimit, forecastMarker } from './ledger-rules.js';
import type { CommitOutcome, LedgerStore, MaybePromise } from './ledger-store.interface.js';
import { isPromise } from './maybe-promise.js';

/**
 * A ledger's two hot streams, `events$` and `calls$`, and the events a commit publishes: usage,
 * the thresholds and exhaustion it crossed, and forecasts (once per window across replicas).
 */
export class LedgerEventPublisher {
  private readonly subject = new Subject<TokencapEvent>();
  /** Every event, hot; completes when the ledger is closed. */
  readonly events$: Observable<TokencapEvent> = this.subject.asObservable();
  private readonly callSubject = new Subject<SettledCall>();
  /** One record per metered call as it settles, hot; completes when the ledger is closed. */
  readonly calls$: Observable<SettledCall> = this.callSubject.asObservable();
  /** Forecast markers this process claimed lately, by ledger and marker, until when (see forecast). */
  private readonly claimed = new Map<string, number>();

  /** @param store claims the forecast markers. */
  constructor(private readonly store: LedgerStore) {}

  publish(event: TokencapEvent): void {
    this.subject.next(event);
  }

  /** Whether anyone listens to {@link calls$}. */
  get callsObserved(): boolean {
    return this.callSubject.observed;
  }

  publishCall(call: SettledCall): void {
    this.callSubject.next(call);
  }

  /** Completes both streams. */
  complete(): void {
    this.subject.complete();
    this.callSubject.complete();
  }

  /**
   * Publishes a commit's events: a `usage` per budget charged, then the thresholds and exhaustion
   * it crossed (of `charged`, then of their ledgers' `siblings`), then forecasts.
   */
  publishCommit(
    charged: readonly Budget[],
    siblings: readonly Budget[] | undefined,
    outcome: CommitOutcome,
    at: number,
    details: UsageDetails | undefined,
    publish: 'all' | 'usage' | 'crossings',
  ): void {
    // Events are hot and unbuffered: with no subscriber there is nobody to build them for.
    if (!this.subject.observed) return;
    if (publish !== 'crossings') {
      charged.forEach((budget, index) => {
        const usage = usageOf(budget, outcome.snapshots[index], at, outcome.activity?.[index]);
        this.publish({ type: 'usage', at, ...usage, ...(details && { details }) });
      });
    }
    if (publish === 'usage') return;
    // The outcome's indexes run over the budgets charged, then the siblings.
    const budgets = siblings === undefined ? charged : [...charged, ...siblings];
    for (const c of outcome.crossings) {
      const budget = budgets[c.index];
      const snapshot = outcome.snapshots[c.index];
      const used = toUserUnits(c.dimension, snapshot.used[c.dimension] ?? 0);
      const limit = toUserUnits(c.dimension, effectiveLimit(budget, c.dimension, snapshot.credit));
      const base = {
        scope: budget.scope,
        key: budget.key,
        at,
        dimension: c.dimension,
        used,
        limit,
      };
      this.publish(
        c.exhausted
          ? { type: 'exhausted', ...base }
          : { type: 'threshold', ...base, threshold: c.threshold },
      );
    }
    if (outcome.activity !== undefined) this.forecast(budgets, outcome, at);
  }

  /**
   * Publishes a `forecast` for each budget and dimension that, at its burn rate, runs out before
   * its window ends: once per window across replicas, by claiming its marker in the store.
   */
  private forecast(budgets: readonly Budget[], outcome: CommitOutcome, at: number): void {
    const store = this.store;
    if (!store.claim) return;
    // A store that ignores siblings reports only the budgets charged.
    const count = Math.min(budgets.length, outcome.snapshots.length);
    for (let i = 0; i < count; i++) {
      const budget = budgets[i];
      const snapshot = outcome.snapshots[i];
      for (const dim of Object.keys(budget.limits) as Dimension[]) {
        const p = project(budget, dim, snapshot, outcome.activity?.[i], at);
        if (!p.beforeEnd) continue;
        const marker = forecastMarker(dim, budget.limits[dim] as number);
        // A claim costs a round trip; a replica that claimed (or saw claimed) this marker lately
        // does not ask again for a minute.
        const memo = `${ledgerIdOf(budget)}|${marker}`;
        if ((this.claimed.get(memo) ?? -Infinity) > at) continue;
        if (this.claimed.size >= 10_000) this.claimed.clear();
        this.claimed.set(memo, Math.min(p.windowEnd ?? Infinity, at + 60_000));
        const event = {
          type: 'forecast' as const,
          scope: budget.scope,
          key: budget.key,
          at,
          dimension: dim,
          used: toUserUnits(dim, snapshot.used[dim] ?? 0),
          limit: toUserUnits(dim, effectiveLimit(budget, dim, snapshot.credit)),
          rate: toUserUnits(dim, (p.rate as number) * 1000),
          projectedExhaustion: p.exhaustion as number,
          windowEnd: p.windowEnd ?? null,
        };
        let claimed: MaybePromise<boolean>;
        try {
          claimed = store.claim({ budget, marker, now: at });
        } catch {
          this.claimed.delete(memo);
          continue;
        }
        if (!isPromise(claimed)) {
          if (claimed) this.publish(event);
          continue;
        }
        claimed.then(
          (won) => won && this.publish(event),
          // Not claimed: the next commit that still projects exhaustion claims it.
          () => this.claimed.delete(memo),
        );
      }
    }
  }
}
