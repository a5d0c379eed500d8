import type { ExecutionContext } from '@nestjs/common';
import type { Policy } from '../core/budget.js';
import type { Duration } from '../core/duration.js';
import type { StoreErrorMode } from '../core/ledger.js';
import type { LedgerStore } from '../core/ledger-store.interface.js';
import type { ModelPrice } from '../models/model-facts.js';

/** What a scope resolver may return; `undefined`, `null`, `''` and non-finite numbers mean "no key". */
export type ScopeKey = string | number | undefined | null;

/**
 * Turns the current request into the key of one budget scope (`session` → the session id).
 *
 * - In an HTTP handler, `request` is the platform request (`context.switchToHttp().getRequest()`).
 * - For other transports (RPC, WebSockets) it is the handler's first argument (`context.getArgs()[0]`).
 * - Outside any request (a cron job, a queue consumer, a script) **both arguments are `undefined`**:
 *   return the key from elsewhere, or nothing (see `onMissingKey`).
 *
 * Keys are resolved at most once per request and scope, so the resolver may be async and costly.
 * @example
 * const session: ScopeResolver<Request> = (req) => req?.headers['x-session-id'] as string | undefined;
 */
// `any` by default so a resolver typed `(req: Request) => …` is accepted.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ScopeResolver<TRequest = any> = (
  request: TRequest,
  context: ExecutionContext | undefined,
) => ScopeKey | Promise<ScopeKey>;

/**
 * What to do when a scope resolver returns no key.
 * - `refuse`: fail the call with `BudgetKeyMissingError` (HTTP 400), so no call runs unlimited.
 * - `skip`: run the call without that budget. Its other budgets still apply.
 */
export type MissingKeyMode = 'refuse' | 'skip';

/** Options of `TokencapModule.forRoot()` / `forRootAsync()`. */
export interface TokencapModuleOptions {
  /**
   * Your budget scopes, each with the resolver that finds its key (`session`, `user`, `tenant`…).
   * `request`, `task` and `global` are built in and cannot be redefined.
   * @default {}
   * @example
   * scopes: { session: (req) => req?.headers['x-session-id'], user: (req) => req?.user?.id }
   */
  scopes?: Record<string, ScopeResolver>;
  /** Fractions of a limit at which a `threshold` event fires, for budgets that name none. @default [0.8, 0.9] */
  thresholds?: readonly number[];
  /** The policy of budgets that name none. @default 'hard-stop' */
  policy?: Policy;
  /** Where ledgers live. Pass a `RedisLedgerStore` to share budgets between replicas. @default new MemoryLedgerStore() */
  store?: LedgerStore;
  /**
   * `fail-closed` refuses calls (HTTP 503) while the store is down; `fail-open` lets them through,
   * counting usage in this process until the store returns.
   * @default 'fail-closed'
   */
  onStoreError?: StoreErrorMode;
  /**
   * A reservation never committed or released lapses after this long. It is also the idle time after
   * which the ephemeral `request` and `task` budgets are dropped from the store.
   * @default '15m'
   */
  reservationTtl?: Duration;
  /**
   * What happens when a scope resolver returns no key: `refuse` (HTTP 400) or `skip` (leave that
   * budget out, so the call runs without it).
   * @default 'refuse'
   */
  onMissingKey?: MissingKeyMode;
  /** Receives one warning per store outage. @default new Logger('Tokencap') */
  logger?: {
    /** Called with one line per warning. */
    warn(message: string): void;
  };
  /**
   * Model prices for `usd` budgets, in USD per 1M tokens, replacing or extending the shipped model
   * catalog (names resolve by prefix: `gpt-4o-2024-08-06` finds `gpt-4o`).
   * @default {} (the shipped table only)
   * @example
   * prices: { 'my-finetune': { input: 3, cachedInput: 1.5, output: 12 } }
   */
  prices?: Record<string, ModelPrice>;
  /**
   * The price of a model found in no table. Without it, a call to such a model under a `usd` budget
   * is refused with `PriceUnknownError` (fail closed).
   * @default undefined
   */
  defaultPrice?: ModelPrice;
}
