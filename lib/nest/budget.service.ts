import {
  type BeforeApplicationShutdown,
  type ExecutionContext,
  Inject,
  Injectable,
} from '@nestjs/common';
import { filter, type Observable, ReplaySubject, takeUntil } from 'rxjs';
import {
  type Amounts,
  type Budget,
  type BudgetDefinition,
  type BudgetLimit,
  type BudgetOptions,
  DIMENSIONS,
  defineBudget,
  type Dimension,
  toStoreUnits,
  toUserUnits,
} from '../core/budget.js';
import { parseWindow } from '../core/budget-window.js';
import { type BudgetFrame, currentFrame } from '../core/budget-context.js';
import type { BudgetUsage, ThresholdEvent, TokencapEvent } from '../core/events.js';
import { Ledger, type ReserveRequest } from '../core/ledger.js';
import { stampLedgerId } from '../core/ledger-id.js';
import type { Reservation } from '../core/reservation.js';
import { TokencapConfigError, TokencapError } from '../errors.js';
import { BudgetRequestContext } from './budget-request.context.js';
import { BudgetResolver } from './budget.resolver.js';
import { BudgetRunner } from './budget.runner.js';
import { type ResolvedTokencapOptions, TOKENCAP_OPTIONS } from './tokencap-options.validator.js';

/** Usage in user units: a number of tokens, or any of tokens, dollars (`usd`) and requests. */
export type UsageAmounts = number | { tokens?: number; usd?: number; requests?: number };

/**
 * Which budget of a scope `usageOf`, `reset` and `credit` act on. Without it, the scope's
 * `@Budget` declarations in the app decide: there must be exactly one (or one with the given
 * `window` and `timeZone`). With a `limit`, the budget is defined from these options alone (the
 * module's policy and thresholds apply), for budgets opened by `run()`.
 */
export interface BudgetSelector extends BudgetOptions {
  limit?: BudgetLimit;
}

/**
 * The app's budgets, programmatically: events, usage of the open budgets, budgets opened by code
 * rather than by `@Budget`, and charging usage of clients Tokencap does not wrap.
 * Everything here acts on this app's ledger; frames of another app are invisible to it.
 */
@Injectable()
export class BudgetService implements BeforeApplicationShutdown {
  /**
   * Every event (usage, threshold, exhausted, refused, degraded, store-error); hot. Completes when
   * the app starts shutting down (`beforeApplicationShutdown`), before the HTTP server closes, so an
   * `@Sse()` stream of it does not hold `app.close()` open.
   */
  readonly events$: Observable<TokencapEvent>;
  /** Only `threshold` events: usage first reached a fraction of a limit in this window. */
  readonly thresholds$: Observable<ThresholdEvent>;
  // Replays, so a subscriber arriving after shutdown began completes at once.
  private readonly closing = new ReplaySubject<void>(1);

  /** @internal Nest creates the service; inject it. */
  constructor(
    /** The engine behind this service, for advanced use (custom client wrappers). */
    readonly ledger: Ledger,
    private readonly runner: BudgetRunner,
    private readonly requests: BudgetRequestContext,
    private readonly resolver: BudgetResolver,
    @Inject(TOKENCAP_OPTIONS) private readonly options: ResolvedTokencapOptions,
  ) {
    this.events$ = ledger.events$.pipe(takeUntil(this.closing));
    this.thresholds$ = this.events$.pipe(
      filter((e): e is ThresholdEvent => e.type === 'threshold'),
    );
  }

  /**
   * Completes `events$` and `thresholds$`. Nest calls it before the HTTP server closes, which
   * waits for every open response: an `@Sse()` stream of these would otherwise hold it open.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing.next();
    this.closing.complete();
    // One turn of the event loop lets the responses those streams fed finish, so that the server,
    // which closes the connections idle when it starts closing, closes theirs too instead of
    // waiting for their keep-alive timeout.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** The budgets open around the running code (outermost first); empty outside any. */
  openBudgets(): readonly Budget[] {
    return this.frame()?.budgets ?? [];
  }

  /**
   * Usage of the innermost open budget of `scope`.
   * @throws TokencapError naming the scope when no budget of that scope is open here.
   * @example
   * const { remaining } = await budgets.usage('session');
   */
  async usage(scope: string): Promise<BudgetUsage> {
    const budgets = this.openBudgets();
    const budget = budgets.findLast((b) => b.scope === scope);
    if (!budget) {
      const open = budgets.map((b) => b.scope);
      throw new TokencapError(
        `No budget of scope "${scope}" is open here (${open.length > 0 ? `open: ${open.join(', ')}` : 'none is open'}). ` +
          `usage() reads the budgets opened by @Budget or BudgetService.run() around the calling code.`,
      );
    }
    const [usage] = await this.ledger.usage([budget]);
    return usage;
  }

  /**
   * Usage of any scope and key, whether or not a budget is open here: for a dashboard or a usage
   * endpoint. Reads only; a key never charged reads as zero.
   * @throws TokencapError naming an unknown scope, or a scope with no (or several) matching
   *   declarations when `options` gives no `limit`.
   * @example
   * @Get('usage/:user') usage(@Param('user') user: string) { return this.budgets.usageOf('user', user); }
   */
  async usageOf(scope: string, key: string, options?: BudgetSelector): Promise<BudgetUsage> {
    const [usage] = await this.ledger.usage([this.select('usageOf', scope, key, options, true)]);
    return usage;
  }

  /**
   * Starts the current window of `scope`'s budget for `key` afresh: clears its usage, thresholds
   * already fired and burn rate, atomically with calls in flight (their reservations stay held,
   * and what they commit counts in the fresh window). Credits stay. Publishes a `reset` event.
   * @throws TokencapError as {@link usageOf}; StoreUnavailableError when the store is down.
   * @example
   * await budgets.reset('user', userId);
   */
  async reset(scope: string, key: string, options?: BudgetSelector): Promise<BudgetUsage> {
    return this.ledger.reset(this.select('reset', scope, key, options, false));
  }

  /**
   * Grants `key` extra allowance in `scope` for its current window (a top-up), atomically with calls
   * in flight: the limit is raised by `amount` until the window ends, and thresholds and forecasts
   * compare to the raised limit. Publishes a `credit` event.
   * @param amount tokens as a number, or `{ tokens?, usd?, requests? }` with `usd` in dollars; each
   *   positive, and only in dimensions the budget limits.
   * @throws TokencapConfigError naming a bad amount; TokencapError as {@link usageOf}.
   * @example
   * await budgets.credit('user', userId, { usd: 5 });
   */
  async credit(
    scope: string,
    key: string,
    amount: UsageAmounts,
    options?: BudgetSelector,
  ): Promise<BudgetUsage> {
    const budget = this.select('credit', scope, key, options, false);
    const input = typeof amount === 'number' ? { tokens: amount } : amount;
    return this.ledger.credit(budget, input as Partial<Record<Dimension, number>>);
  }

  /**
   * Runs `fn` with budgets open (on top of those already open), as `@Budget` would. The module's
   * default policy and thresholds apply to definitions that name none. Promises keep the budgets
   * across every `await`; a lazy result (Observable, generator, stream, `StreamableFile`, or a
   * promise of one) runs inside them for as long as it is consumed.
   * @example
   * await budgets.run({ scope: 'session', key: sessionId, limit: 5_000, window: '1h' }, () => agent.run());
   */
  run<T>(definitions: BudgetDefinition | readonly BudgetDefinition[], fn: () => T): T {
    const list = Array.isArray(definitions) ? definitions : [definitions as BudgetDefinition];
    const budgets = list.map((d) =>
      defineBudget({
        ...d,
        policy: d.policy ?? this.options.policy,
        thresholds: d.thresholds ?? this.options.thresholds,
      }),
    );
    return this.runner.runIn(this.requests.current(), budgets, fn);
  }

  /**
   * Runs `fn` inside the budgets the handler of `context` declares (its `@Budget`s, else its
   * class's), with keys resolved from that request: for code that runs before the interceptor
   * opens them, such as an LLM call in a guard. The budgets are the handler's own: the same
   * `request` budget and keys, so what the guard spends counts against what the handler may spend.
   * A handler without `@Budget` opens none (`fn` still runs, unbudgeted).
   * @throws BudgetKeyMissingError (as a rejection) when a scope has no usable key.
   * @example
   * canActivate(context: ExecutionContext) {
   *   return this.budgets.runFor(context, () => this.moderation.check(context));
   * }
   */
  async runFor<T>(context: ExecutionContext, fn: () => T | Promise<T>): Promise<T> {
    const call = this.requests.forContext(context);
    const budgets = await this.resolver.resolve(this.resolver.forHandler(context), call);
    return this.runner.runIn(call, budgets, fn);
  }

  /**
   * Records usage on every open budget, for an LLM client Tokencap does not wrap. It never refuses
   * (the provider has already been paid); the next call that reserves does.
   * @param amounts tokens as a number, or `{ tokens?, usd?, requests? }` with `usd` in dollars.
   * @throws TokencapError when no budget is open here.
   */
  async charge(amounts: UsageAmounts): Promise<void> {
    const frame = this.requireFrame('charge');
    await this.ledger.charge(frame.budgets, toAmounts(amounts));
  }

  /**
   * Reserves on every open budget before a call (two-phase spending): `commit` the actual usage or
   * `release` the reservation afterwards. A number reserves that many tokens.
   * @param request a number of tokens, or a {@link ReserveRequest} in store units (micro-dollars for usd).
   * @throws BudgetExceededError when a budget cannot hold it; StoreUnavailableError in fail-closed mode.
   */
  async reserve(request: number | ReserveRequest): Promise<Reservation> {
    const frame = this.requireFrame('reserve');
    const input = typeof request === 'number' ? { base: toAmounts(request) } : request;
    return this.ledger.reserve(frame.budgets, input);
  }

  /**
   * The budget of `scope` and `key` an operation acts on: defined from `options` when they give a
   * limit (any scope, as `run()` accepts), else the scope's one matching declaration (one ledger; for usage, one limit too).
   */
  private select(
    method: string,
    scope: string,
    key: string,
    options: BudgetSelector | undefined,
    sameLimit: boolean,
  ): Budget {
    if (typeof key !== 'string' || key.length === 0) {
      throw new TokencapConfigError(
        `BudgetService.${method}(): invalid key ${JSON.stringify(key)?.slice(0, 64)} for scope "${scope}": expected a non-empty string.`,
      );
    }
    // With a limit the budget needs no declaration: run() opens budgets of any scope.
    if (options?.limit !== undefined) {
      return defineBudget({
        ...options,
        scope,
        key,
        limit: options.limit,
        policy: options.policy ?? this.options.policy,
        thresholds: options.thresholds ?? this.options.thresholds,
      });
    }
    // Without a limit the budget comes from a declaration, so the scope must have one.
    const known = this.resolver.knownScopes;
    if (!known.includes(scope)) {
      throw new TokencapError(
        `BudgetService.${method}(): unknown scope ${JSON.stringify(scope)}; known scopes: ${known.join(', ')}.`,
      );
    }
    const window =
      options?.window === undefined
        ? undefined
        : parseWindow(options.window, `window of BudgetService.${method}()`, options.timeZone);
    const declared = this.resolver
      .declarations(scope)
      .filter((t) => window === undefined || t.prototype.window?.tag === window.tag);
    const distinct = new Map<string, Budget[]>();
    for (const { prototype } of declared) {
      const ledger = prototype.window?.tag ?? 'no window';
      const id = sameLimit ? `${ledger} ${describeLimits(prototype)}` : ledger;
      const group = distinct.get(id);
      if (group === undefined) distinct.set(id, [prototype]);
      else group.push(prototype);
    }
    if (distinct.size !== 1) {
      const which = window ? ` with window ${JSON.stringify(options?.window)}` : '';
      const found =
        distinct.size === 0
          ? `no @Budget declares scope "${scope}"${which}`
          : `scope "${scope}" is declared as ${[...distinct.keys()].join('; ')}`;
      throw new TokencapError(
        `BudgetService.${method}(): ${found}. Pass { limit, window } to name the budget.`,
      );
    }
    const [group] = distinct.values();
    // Declarations of one ledger (reset and credit act on the ledger they share): one budget
    // with every dimension any of them limits, at the tightest limit, so neither what a credit
    // may name nor the usage returned depends on the order they were declared in.
    const prototype = group.length === 1 ? group[0] : mergeDeclarations(group);
    return Object.freeze(stampLedgerId({ ...prototype, id: `${scope}:${key}`, key }));
  }

  private frame(): BudgetFrame | undefined {
    const frame = currentFrame();
    return frame && frame.ledger === this.ledger && frame.budgets.length > 0 ? frame : undefined;
  }

  private requireFrame(method: string): BudgetFrame {
    const frame = this.frame();
    if (!frame) {
      throw new TokencapError(
        `BudgetService.${method}() was called outside any budget: call it from a method with @Budget, ` +
          `or inside BudgetService.run().`,
      );
    }
    return frame;
  }
}

/**
 * One budget standing for declarations of one ledger: each dimension any of them limits, at the
 * tightest declared limit (the one that binds); their thresholds together; the ledger kept as long
 * as the longest-lived of them keeps it (no `ttl` if one has none).
 */
function mergeDeclarations(group: readonly Budget[]): Budget {
  const limits: Amounts = {};
  for (const dim of DIMENSIONS) {
    for (const declaration of group) {
      const limit = declaration.limits[dim];
      if (limit !== undefined) limits[dim] = Math.min(limits[dim] ?? Infinity, limit);
    }
  }
  const thresholds = [...new Set(group.flatMap((d) => d.thresholds))].sort((a, b) => a - b);
  const ttls = group.map((d) => d.ttlMs);
  const ttlMs = ttls.includes(undefined) ? undefined : Math.max(...(ttls as number[]));
  const merged: Budget = { ...group[0], limits, thresholds, ttlMs };
  if (ttlMs === undefined) delete (merged as { ttlMs?: number }).ttlMs;
  return merged;
}

function describeLimits(budget: Budget): string {
  return (Object.keys(budget.limits) as Dimension[])
    .map((d) => `${d} ${toUserUnits(d, budget.limits[d] as number)}`)
    .join(', ');
}

function toAmounts(amounts: UsageAmounts): Amounts {
  const input = typeof amounts === 'number' ? { tokens: amounts } : amounts;
  if (input === null || typeof input !== 'object') {
    throw new TokencapConfigError(
      `Invalid usage ${JSON.stringify(amounts)}: expected a number of tokens or { tokens?, usd?, requests? }.`,
    );
  }
  const out: Amounts = {};
  for (const [name, value] of Object.entries(input)) {
    if (!DIMENSIONS.includes(name as Dimension)) {
      throw new TokencapConfigError(
        `Invalid usage: unknown dimension "${name}"; expected tokens, usd or requests.`,
      );
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TokencapConfigError(
        `Invalid ${name} usage ${JSON.stringify(value)}: expected a finite number of at least 0.`,
      );
    }
    out[name as Dimension] = toStoreUnits(name as Dimension, value);
  }
  return out;
}
