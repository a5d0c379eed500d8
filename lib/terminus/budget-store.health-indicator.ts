import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { filter, type Subscription } from 'rxjs';
import { defineBudget } from '../core/budget.js';
import { describeValue } from '../core/describe-value.js';
import { parseDuration, type Duration } from '../core/duration.js';
import { assertKnownOptions } from '../core/known-options.guard.js';
import { TokencapConfigError } from '../errors.js';
import type { StoreErrorEvent } from '../core/events.js';
import { Ledger } from '../core/ledger.js';

/** Options of {@link BudgetStoreHealthIndicator.isHealthy}. */
export interface BudgetStoreHealthOptions {
  /** A store that has not answered the probe by then is down. @default '2s' */
  timeout?: Duration;
}

/** What a `down` result adds to the indicator's entry. */
// A type alias, not an interface: Terminus takes a Record of details.
export type BudgetStoreDownDetails = {
  /** When the outage began (ISO 8601): the first failure seen by a call or by a probe. */
  since: string;
  /** The store's error on the latest probe. */
  error: string;
  /** What Tokencap does meanwhile: `fail-closed` refuses budgeted calls; `fail-open` counts them locally. */
  mode?: 'fail-closed' | 'fail-open';
};

const OPTION_KEYS: readonly (keyof BudgetStoreHealthOptions)[] = ['timeout'];

// Read, never written: a snapshot of a budget nobody spends creates nothing in the store.
const PROBE = defineBudget({ scope: 'tokencap-health', key: 'probe', limit: 1 });

/**
 * A `@nestjs/terminus` health indicator for the app's budget store (`tokencap/terminus`): `up`
 * when the store answers a read, else `down` with when the outage began and the store's error, so
 * a readiness probe takes a replica whose budgets cannot be checked out of rotation. Provide it
 * in a module that imports `TerminusModule`; it uses the app's `TokencapModule` ledger.
 * @example
 * ```ts
 * @Get('health')
 * @HealthCheck()
 * check() {
 *   return this.health.check([() => this.budgetStore.isHealthy('budget-store')]);
 * }
 * ```
 */
@Injectable()
export class BudgetStoreHealthIndicator implements OnModuleDestroy {
  private downSince: number | undefined;
  private mode: StoreErrorEvent['mode'] | undefined;
  private readonly subscription: Subscription;

  constructor(
    private readonly ledger: Ledger,
    private readonly health: HealthIndicatorService,
  ) {
    // A call that met the outage first dates it (the ledger reports each outage once).
    this.subscription = ledger.events$
      .pipe(filter((e): e is StoreErrorEvent => e.type === 'store-error' && !e.unwritten))
      .subscribe((e) => {
        this.downSince ??= e.at;
        this.mode = e.mode;
      });
  }

  /**
   * Probes the store with one read.
   * @param key the indicator's key in the health check result.
   * @throws TokencapConfigError when an option is unknown or invalid.
   */
  async isHealthy<const Key extends string = 'budget-store'>(
    key: Key = 'budget-store' as Key,
    options: BudgetStoreHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const where = 'BudgetStoreHealthIndicator.isHealthy()';
    if (options === null || typeof options !== 'object') {
      throw new TokencapConfigError(
        `Invalid options ${describeValue(options)} of ${where}: expected an object.`,
      );
    }
    // A typo (`{ timout: '1s' }`) would otherwise leave the default timeout in force, silently.
    assertKnownOptions(options, OPTION_KEYS, where);
    const timeoutMs = parseDuration(
      options.timeout ?? '2s',
      'timeout of BudgetStoreHealthIndicator',
    );
    const session = this.health.check(key);
    const now = this.ledger.clock();
    try {
      await withTimeout(Promise.resolve(this.ledger.store.snapshot([PROBE], now)), timeoutMs);
    } catch (error) {
      this.downSince ??= now;
      const details: BudgetStoreDownDetails = {
        since: new Date(this.downSince).toISOString(),
        error: error instanceof Error ? error.message : String(error),
        ...(this.mode ? { mode: this.mode } : {}),
      };
      return session.down(details);
    }
    this.downSince = undefined;
    this.mode = undefined;
    return session.up();
  }

  /** Stops following the ledger's `store-error` events. */
  onModuleDestroy(): void {
    this.subscription.unsubscribe();
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the budget store did not answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
