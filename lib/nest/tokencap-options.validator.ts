import { type ExecutionContext, Logger } from '@nestjs/common';
import {
  assertPolicy,
  assertScopeName,
  DEFAULT_THRESHOLDS,
  normalizeThresholds,
  type Policy,
} from '../core/budget.js';
import { parseDuration } from '../core/duration.js';
import { assertKnownOptions } from '../core/known-options.guard.js';
import type { StoreErrorMode } from '../core/ledger.js';
import type { LedgerStore } from '../core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../core/memory-ledger.store.js';
import { assertWarnLogger } from '../core/warn-logger.js';
import { TokencapConfigError } from '../errors.js';
import { describeValue } from '../core/describe-value.js';
import { assertPlainObject } from './plain-object.guard.js';
import type {
  MissingKeyMode,
  ScopeResolver,
  TokencapModuleOptions,
} from './tokencap-options.interface.js';
import { ModelCatalog, type ModelCatalogOptions } from '../models/model.catalog.js';

/** Injection token of the validated options, defaults applied. */
export const TOKENCAP_OPTIONS = Symbol('TOKENCAP_OPTIONS');

/**
 * Scopes every app has. `request`: one budget per request (or per outermost budgeted call outside a
 * request); `task`: one per invocation of the decorated method; `global`: one for the whole app.
 */
export const BUILT_IN_SCOPES = ['request', 'task', 'global'] as const;

/** A built-in scope name. */
export type BuiltInScope = (typeof BUILT_IN_SCOPES)[number];

/** {@link TokencapModuleOptions} validated, with every default applied. */
export interface ResolvedTokencapOptions {
  readonly scopes: ReadonlyMap<string, ScopeResolver>;
  readonly thresholds: readonly number[];
  readonly policy: Policy;
  readonly store: LedgerStore;
  readonly onStoreError: StoreErrorMode;
  readonly reservationTtlMs: number;
  readonly onMissingKey: MissingKeyMode;
  readonly logger: { warn(message: string): void };
  /** The `prices` and `defaultPrice` options, as given. */
  readonly prices: ModelCatalogOptions;
  /** The catalog built from them, bound to the app's ledger. */
  readonly catalog: ModelCatalog;
  readonly headers: boolean;
  readonly skipIf: ((context: ExecutionContext) => boolean) | undefined;
}

const KNOWN_OPTIONS: readonly (keyof TokencapModuleOptions)[] = [
  'scopes',
  'thresholds',
  'policy',
  'store',
  'onStoreError',
  'reservationTtl',
  'onMissingKey',
  'logger',
  'prices',
  'defaultPrice',
  'headers',
  'skipIf',
];

const STORE_METHODS = ['reserve', 'commit', 'release', 'snapshot'] as const;

const option = (name: string) => `TokencapModule option "${name}"`;

/**
 * Refuses module options that are not a plain object of options: `null`, a string, an array, a
 * class instance or an object inheriting its fields. Run on what `forRoot()` is given (before Nest's
 * module builder copies its own keys, which would drop inherited ones silently) and on what
 * `forRootAsync()` resolves, so both entry points refuse the same values the same way.
 * @param from where the value came from, for the message.
 * @throws TokencapConfigError naming the value.
 */
export function assertModuleOptions(
  value: unknown,
  from: string,
): asserts value is TokencapModuleOptions {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TokencapConfigError(
      `Invalid TokencapModule options ${describeValue(value)} (${from}): expected a plain object of options.`,
    );
  }
  assertPlainObject(value, `TokencapModule options (${from})`);
}

/**
 * Validates module options and applies the defaults: the one place they are merged.
 * @throws TokencapConfigError naming the option.
 */
export function resolveTokencapOptions(options: TokencapModuleOptions): ResolvedTokencapOptions {
  const raw: unknown = options;
  assertModuleOptions(raw, 'forRoot, or what forRootAsync resolved');
  assertKnownOptions(raw, KNOWN_OPTIONS, 'TokencapModule');

  const policy = raw.policy ?? 'hard-stop';
  assertPolicy(policy, option('policy'));

  const thresholds = normalizeThresholds(
    raw.thresholds ?? DEFAULT_THRESHOLDS,
    option('thresholds'),
  );

  const onStoreError = raw.onStoreError ?? 'fail-closed';
  if (onStoreError !== 'fail-closed' && onStoreError !== 'fail-open') {
    throw new TokencapConfigError(
      `Invalid ${option('onStoreError')}: ${JSON.stringify(onStoreError)}. Expected 'fail-closed' or 'fail-open'.`,
    );
  }

  const onMissingKey = raw.onMissingKey ?? 'refuse';
  if (onMissingKey !== 'refuse' && onMissingKey !== 'skip') {
    throw new TokencapConfigError(
      `Invalid ${option('onMissingKey')}: ${JSON.stringify(onMissingKey)}. Expected 'refuse' or 'skip'.`,
    );
  }

  const reservationTtlMs = parseDuration(raw.reservationTtl ?? '15m', option('reservationTtl'));
  assertPlainPrices(raw);

  if (raw.store !== undefined) {
    const store = raw.store as unknown as Record<string, unknown> | null;
    const missing = STORE_METHODS.filter((m) => typeof store?.[m] !== 'function');
    if (missing.length > 0) {
      throw new TokencapConfigError(
        `Invalid ${option('store')}: expected a LedgerStore (such as MemoryLedgerStore or RedisLedgerStore), ` +
          `but it has no ${missing.join(', ')} method.`,
      );
    }
  }

  assertWarnLogger(raw.logger, option('logger'));

  const prices: ModelCatalogOptions = { prices: raw.prices, defaultPrice: raw.defaultPrice };
  if (
    raw.prices !== undefined &&
    (raw.prices === null || typeof raw.prices !== 'object' || Array.isArray(raw.prices))
  ) {
    throw new TokencapConfigError(
      `Invalid ${option('prices')}: ${JSON.stringify(raw.prices)}. Expected an object of model name to { input, cachedInput?, output } in USD per 1M tokens.`,
    );
  }
  const headers = raw.headers ?? true;
  if (typeof headers !== 'boolean') {
    throw new TokencapConfigError(
      `Invalid ${option('headers')}: ${JSON.stringify(headers)}. Expected true or false.`,
    );
  }
  if (raw.skipIf !== undefined && typeof raw.skipIf !== 'function') {
    throw new TokencapConfigError(
      `Invalid ${option('skipIf')}: expected a function (context) => boolean, got ${raw.skipIf === null ? 'null' : typeof raw.skipIf}.`,
    );
  }

  // Built here so a malformed price fails at bootstrap, naming the model.
  const catalog = new ModelCatalog(prices);

  return Object.freeze({
    prices,
    catalog,
    scopes: resolveScopes(raw.scopes),
    thresholds,
    policy,
    store: raw.store ?? new MemoryLedgerStore(),
    onStoreError,
    reservationTtlMs,
    onMissingKey,
    logger: raw.logger ?? new Logger('Tokencap'),
    headers,
    skipIf: raw.skipIf,
  });
}

function resolveScopes(scopes: unknown): ReadonlyMap<string, ScopeResolver> {
  const out = new Map<string, ScopeResolver>();
  if (scopes === undefined) return out;
  if (scopes === null || typeof scopes !== 'object' || Array.isArray(scopes)) {
    throw new TokencapConfigError(
      `Invalid ${option('scopes')}: expected an object mapping each scope name to a resolver function.`,
    );
  }
  assertPlainObject(scopes, option('scopes'));
  for (const [name, resolver] of Object.entries(scopes)) {
    assertScopeName(name, `Scope name in ${option('scopes')}:`);
    if ((BUILT_IN_SCOPES as readonly string[]).includes(name)) {
      throw new TokencapConfigError(
        `Invalid ${option(`scopes.${name}`)}: "${name}" is a built-in scope (${BUILT_IN_SCOPES.join(', ')}) and cannot be redefined.`,
      );
    }
    if (typeof resolver !== 'function') {
      throw new TokencapConfigError(
        `Invalid ${option(`scopes.${name}`)}: expected a function (request, context) => key, got ${typeof resolver}.`,
      );
    }
    out.set(name, resolver as ScopeResolver);
  }
  return out;
}

// Prices read through a prototype could make every call free under a usd budget.
function assertPlainPrices(raw: TokencapModuleOptions): void {
  const { prices, defaultPrice } = raw;
  if (prices !== null && typeof prices === 'object' && !Array.isArray(prices)) {
    assertPlainObject(prices, option('prices'));
    for (const [model, price] of Object.entries(prices)) {
      if (price !== null && typeof price === 'object') {
        assertPlainObject(price, option(`prices[${JSON.stringify(model.slice(0, 64))}]`));
      }
    }
  }
  if (defaultPrice !== null && typeof defaultPrice === 'object') {
    assertPlainObject(defaultPrice, option('defaultPrice'));
  }
}
