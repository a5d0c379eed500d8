import { TokencapConfigError } from '../errors.js';
import { describeValue } from './describe-value.js';
import { assertKnownOptions } from './known-options.guard.js';
import { type BudgetWindow, parseWindow, windowBounds } from './budget-window.js';
import type { CalendarUnit } from './calendar-window.js';
import { type Duration, parseDuration } from './duration.js';
import { stampLedgerId } from './ledger-id.js';

/**
 * What happens when a budget cannot hold a call.
 * - `hard-stop`: refuse any call whose reservation would take usage past the limit.
 * - `degrade`: let calls run while usage is under the limit (even if a call crosses it), refuse once it is reached.
 * - `notify`: never refuse; only emit events.
 */
export type Policy = 'hard-stop' | 'degrade' | 'notify';

/** The policies, in the order they are documented. */
export const POLICIES: readonly Policy[] = ['hard-stop', 'degrade', 'notify'];

/** The quantities a budget can limit. */
export type Dimension = 'tokens' | 'usd' | 'requests';

/** Every dimension, in reporting order. */
export const DIMENSIONS: readonly Dimension[] = ['tokens', 'usd', 'requests'];

/**
 * Quantities in store units: tokens, micro-dollars (integers) for `usd`, and requests.
 * A missing dimension is zero.
 */
export type Amounts = Partial<Record<Dimension, number>>;

/**
 * A limit: a number of tokens, or an object limiting any of tokens, dollars and requests. Tokens
 * and requests are whole numbers ≥ 1 (a fraction is refused, not rounded); dollars at least 0.000001.
 */
export type BudgetLimit = number | { tokens?: number; usd?: number; requests?: number };

/** Per-budget behaviour. */
export interface BudgetOptions {
  /** @default 'hard-stop' (or the module's `policy`) */
  policy?: Policy;
  /** Fractions of the limit at which a `threshold` event fires, each in (0, 1]. @default [0.8, 0.9] */
  thresholds?: readonly number[];
  /**
   * Usage resets when the window rolls over. A length (`'1h'`) is aligned to the epoch so every
   * replica agrees; `'day'`, `'week'` (ISO: from Monday) and `'month'` follow the calendar of
   * `timeZone` (see docs/windows.md). The window is part of the ledger's identity:
   * `@Budget('user', 1000, { window: '1h' })` and `@Budget('user', 5000, { window: '1d' })` are two
   * ledgers, and both hold; so are a month in UTC and a month in Berlin.
   */
  window?: Duration | CalendarUnit;
  /**
   * The IANA time zone of a calendar window (`'Europe/Berlin'`), validated with `Intl`.
   * @default 'UTC'
   */
  timeZone?: string;
  /**
   * For a budget without a window: a `forecast` event fires when, at the current burn rate, the
   * budget would run out within this long. (A windowed budget forecasts up to its window's end.)
   * @default '1d'
   */
  forecastHorizon?: Duration;
  /** The ledger is dropped after it has been idle this long. */
  ttl?: Duration;
  /**
   * The most output tokens one call may reserve. Without it a clamped call reserves everything the
   * budget has left, which serialises parallel calls; a smaller cap lets more calls run at once.
   */
  maxReservation?: number;
  /**
   * `degrade` only: from `degradeAt` of the limit on, client wrappers send requests with this
   * cheaper model and publish a `degraded` event.
   */
  fallbackModel?: string;
  /** `degrade` only: the fraction of the limit at which `fallbackModel` takes over. @default 0.9 */
  degradeAt?: number;
  /**
   * `degrade` only: once the budget is spent, client wrappers answer with this instead of calling
   * the provider (it receives the request the caller made and returns what the call would return).
   */
  fallback?: (request: never) => unknown;
}

/** Everything needed to define a budget. */
export interface BudgetDefinition extends BudgetOptions {
  scope: string;
  key: string;
  limit: BudgetLimit;
}

/**
 * A validated, immutable budget. Amounts are in store units (micro-dollars for `usd`).
 *
 * Its ledger (the usage it is checked against) is identified by scope, key and window: budgets
 * that share all three share one usage, each checked against its own limit and policy.
 */
export interface Budget {
  /** `scope:key`, for messages and logs. Not unique: budgets with other windows or limits share it. */
  readonly id: string;
  readonly scope: string;
  readonly key: string;
  readonly limits: Readonly<Amounts>;
  readonly policy: Policy;
  readonly thresholds: readonly number[];
  /** When usage starts afresh; none: it never does (see `ttl`). */
  readonly window?: BudgetWindow;
  /** How far ahead a budget without a window forecasts its exhaustion (see `forecastHorizon`). */
  readonly forecastHorizonMs: number;
  readonly ttlMs?: number;
  readonly maxReservation?: number;
  readonly fallbackModel?: string;
  readonly degradeAt?: number;
  /** Produces the reply of a refused call under the degrade policy, instead of an error. */
  readonly fallback?: (request: never) => unknown;
}

/** When `budget`'s current window ends (epoch ms); undefined for a budget without a window. */
export function resetOf(budget: Pick<Budget, 'window'>, now: number): number | undefined {
  return budget.window ? windowBounds(budget.window, now).end : undefined;
}

/** Thresholds used when a budget names none. */
export const DEFAULT_THRESHOLDS: readonly number[] = Object.freeze([0.8, 0.9]);

/** How far ahead a budget without a window forecasts, when it names no `forecastHorizon`: one day. */
export const DEFAULT_FORECAST_HORIZON_MS = 86_400_000;

/** Micro-dollars in one dollar: money is kept as integers so totals never drift. */
export const MICROS_PER_USD = 1_000_000;

/**
 * The largest amount, in store units, of any limit or charge: 10^15 tokens or requests, or
 * $1,000,000,000 (10^15 micro-dollars). Larger amounts are refused; usage that adds up past it
 * stays at it (both stores saturate), so every total stays an exact integer in a double.
 */
export const MAX_AMOUNT = 1e15;

const SCOPE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `object[key]` if the object has it as an own property, else undefined: an option inherited
 * through the prototype (`JSON.parse('{"__proto__": {"policy": "notify"}}')`, a polluted
 * `Object.prototype`) must never configure a budget.
 */
function ownOption<T extends object, K extends keyof T>(object: T, key: K): T[K] | undefined {
  return Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined;
}

/** Converts a store amount to the unit users see (dollars for `usd`). */
export function toUserUnits(dimension: Dimension, amount: number): number {
  return dimension === 'usd' ? amount / MICROS_PER_USD : amount;
}

/** Converts a user amount (dollars for `usd`) to store units, rounding money up to a whole micro-dollar. */
export function toStoreUnits(dimension: Dimension, amount: number): number {
  return dimension === 'usd' ? Math.ceil(amount * MICROS_PER_USD - 1e-6) : amount;
}

/** Validates a scope name: letters, digits, `_`, `.`, `-`, up to 64 characters. */
export function assertScopeName(scope: unknown, where = 'Budget scope'): asserts scope is string {
  if (typeof scope !== 'string' || !SCOPE_PATTERN.test(scope)) {
    throw new TokencapConfigError(
      `${where} ${describeValue(scope)} is invalid: expected 1-64 letters, digits, '_', '.' or '-'.`,
    );
  }
}

/** Validates a policy name. */
export function assertPolicy(policy: unknown, where: string): asserts policy is Policy {
  if (!POLICIES.includes(policy as Policy)) {
    throw new TokencapConfigError(
      `Invalid policy ${JSON.stringify(policy)} for ${where}: expected one of ${POLICIES.map((p) => `'${p}'`).join(', ')}.`,
    );
  }
}

/** Validates thresholds and returns them sorted, de-duplicated and frozen. */
export function normalizeThresholds(thresholds: unknown, where: string): readonly number[] {
  // Already sorted, unique and frozen: most budgets name no thresholds of their own.
  if (thresholds === DEFAULT_THRESHOLDS) return DEFAULT_THRESHOLDS;
  if (!Array.isArray(thresholds)) {
    throw new TokencapConfigError(
      `Invalid thresholds ${describeValue(thresholds)} for ${where}: expected an array of numbers in (0, 1].`,
    );
  }
  for (const t of thresholds) {
    if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 1) {
      throw new TokencapConfigError(
        `Invalid threshold ${describeValue(t)} for ${where}: each threshold must be a number in (0, 1].`,
      );
    }
  }
  return Object.freeze([...new Set(thresholds as number[])].sort((a, b) => a - b));
}

function isPositive(n: unknown): boolean {
  return typeof n === 'number' && Number.isFinite(n) && n > 0;
}

function isWholeAtLeastOne(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1;
}

/**
 * Validates a limit and converts it to store units. Reads only the limit object's own properties.
 * Tokens and requests are counted whole, so a fractional limit is refused rather than rounded.
 */
export function normalizeLimit(limit: unknown, where: string): Readonly<Amounts> {
  const expected = `a whole number of tokens ≥ 1, or an object with any of tokens, usd, requests`;
  if (typeof limit === 'number') {
    if (!isWholeAtLeastOne(limit)) {
      throw new TokencapConfigError(
        `Invalid limit ${describeValue(limit)} for ${where}: expected ${expected}.`,
      );
    }
    if (limit > MAX_AMOUNT) throw tooLarge('', limit, 'tokens', where);
    return Object.freeze({ tokens: limit });
  }
  if (limit === null || typeof limit !== 'object' || Array.isArray(limit)) {
    throw new TokencapConfigError(
      `Invalid limit ${describeValue(limit)} for ${where}: expected ${expected}.`,
    );
  }
  const out: Amounts = {};
  // Object.entries lists own enumerable properties only: an inherited `tokens` limits nothing.
  for (const [name, value] of Object.entries(limit)) {
    if (!DIMENSIONS.includes(name as Dimension)) {
      throw new TokencapConfigError(
        `Invalid limit for ${where}: unknown dimension ${JSON.stringify(name.slice(0, 64))}; expected tokens, usd or requests.`,
      );
    }
    if (value === undefined) continue;
    const dimension = name as Dimension;
    let stored: number;
    if (dimension === 'usd') {
      // Money is kept in whole micro-dollars: less than one is no limit at all.
      stored = isPositive(value) ? toStoreUnits('usd', value as number) : 0;
      if (!isPositive(value) || (value as number) * MICROS_PER_USD < 1 - 1e-6) {
        throw new TokencapConfigError(
          `Invalid usd limit ${describeValue(value)} for ${where}: expected a number of dollars ≥ 0.000001.`,
        );
      }
    } else {
      if (!isWholeAtLeastOne(value)) {
        throw new TokencapConfigError(
          `Invalid ${name} limit ${describeValue(value)} for ${where}: expected a whole number of ${name} ≥ 1.`,
        );
      }
      stored = value;
    }
    if (stored > MAX_AMOUNT) throw tooLarge(`${name} `, value as number, dimension, where);
    out[dimension] = stored;
  }
  if (Object.keys(out).length === 0) {
    throw new TokencapConfigError(
      `Invalid limit ${describeValue(limit)} for ${where}: expected ${expected}.`,
    );
  }
  return Object.freeze(out);
}

function tooLarge(
  what: string,
  value: number,
  dimension: Dimension,
  where: string,
): TokencapConfigError {
  const max = dimension === 'usd' ? `${MAX_AMOUNT / MICROS_PER_USD} dollars` : `${MAX_AMOUNT}`;
  return new TokencapConfigError(
    `Invalid ${what}limit ${describeValue(value)} for ${where}: at most ${max} (MAX_AMOUNT).`,
  );
}

/** The options a budget takes (`@Budget`'s third argument). */
const OPTION_KEYS: readonly string[] = [
  'policy',
  'thresholds',
  'window',
  'timeZone',
  'forecastHorizon',
  'ttl',
  'maxReservation',
  'fallbackModel',
  'degradeAt',
  'fallback',
];
const DEFINITION_KEYS: readonly string[] = ['scope', 'key', 'limit', ...OPTION_KEYS];

/**
 * Validates per-budget options; `where` names the budget in error messages. Reads own properties
 * only, so nothing inherited through the prototype configures a budget.
 */
export function normalizeOptions(
  options: BudgetOptions,
  where: string,
  allowed: readonly string[] = OPTION_KEYS,
): Required<Pick<Budget, 'policy' | 'thresholds' | 'forecastHorizonMs'>> &
  Pick<Budget, 'window' | 'ttlMs' | 'maxReservation' | 'fallbackModel' | 'degradeAt' | 'fallback'> {
  assertKnownOptions(options, allowed, where);
  const policy = ownOption(options, 'policy') ?? 'hard-stop';
  assertPolicy(policy, where);
  const thresholds = normalizeThresholds(
    ownOption(options, 'thresholds') ?? DEFAULT_THRESHOLDS,
    where,
  );
  const windowOption = ownOption(options, 'window');
  const timeZone = ownOption(options, 'timeZone');
  if (windowOption === undefined && timeZone !== undefined) {
    throw new TokencapConfigError(
      `timeZone ${JSON.stringify(timeZone)} of ${where} needs a calendar window ('day', 'week' or 'month').`,
    );
  }
  const window =
    windowOption === undefined
      ? undefined
      : parseWindow(windowOption, `window of ${where}`, timeZone);
  const horizon = ownOption(options, 'forecastHorizon');
  const forecastHorizonMs =
    horizon === undefined
      ? DEFAULT_FORECAST_HORIZON_MS
      : parseDuration(horizon, `forecastHorizon of ${where}`);
  const ttl = ownOption(options, 'ttl');
  const ttlMs = ttl === undefined ? undefined : parseDuration(ttl, `ttl of ${where}`);
  const maxReservation = ownOption(options, 'maxReservation');
  if (
    maxReservation !== undefined &&
    (typeof maxReservation !== 'number' ||
      !Number.isSafeInteger(maxReservation) ||
      maxReservation < 1)
  ) {
    throw new TokencapConfigError(
      `Invalid maxReservation ${describeValue(maxReservation)} for ${where}: expected a positive whole number of tokens.`,
    );
  }
  const fallbackModel = ownOption(options, 'fallbackModel');
  const degradeAt = ownOption(options, 'degradeAt');
  const fallback = ownOption(options, 'fallback');
  if (
    fallbackModel !== undefined &&
    (typeof fallbackModel !== 'string' || fallbackModel.length === 0)
  ) {
    throw new TokencapConfigError(
      `Invalid fallbackModel ${JSON.stringify(fallbackModel)} for ${where}: expected a model name.`,
    );
  }
  if (
    degradeAt !== undefined &&
    (typeof degradeAt !== 'number' || !(degradeAt > 0 && degradeAt <= 1))
  ) {
    throw new TokencapConfigError(
      `Invalid degradeAt ${JSON.stringify(degradeAt)} for ${where}: expected a number in (0, 1].`,
    );
  }
  if (fallback !== undefined && typeof fallback !== 'function') {
    throw new TokencapConfigError(
      `Invalid fallback ${JSON.stringify(fallback)} for ${where}: expected a function.`,
    );
  }
  const degradeOnly =
    policy === 'degrade' ||
    (fallbackModel === undefined && degradeAt === undefined && fallback === undefined)
      ? []
      : (['fallbackModel', 'degradeAt', 'fallback'] as const).filter(
          (k) => ownOption(options, k) !== undefined,
        );
  if (degradeOnly.length > 0) {
    throw new TokencapConfigError(
      `${degradeOnly.join(', ')} of ${where} only apply to policy 'degrade', but its policy is '${policy}'.`,
    );
  }
  if (degradeAt !== undefined && fallbackModel === undefined) {
    throw new TokencapConfigError(`degradeAt of ${where} needs a fallbackModel to switch to.`);
  }
  const degrade =
    policy === 'degrade'
      ? { fallbackModel, degradeAt: fallbackModel ? (degradeAt ?? 0.9) : undefined, fallback }
      : {};
  return { policy, thresholds, window, forecastHorizonMs, ttlMs, maxReservation, ...degrade };
}

/**
 * Validates a budget definition and returns an immutable {@link Budget}.
 * @throws TokencapConfigError naming the bad value.
 * @example
 * const session = defineBudget({ scope: 'session', key: 'abc', limit: 50_000, window: '1h' });
 */
export function defineBudget(definition: BudgetDefinition): Budget {
  if (definition === null || typeof definition !== 'object') {
    throw new TokencapConfigError(
      `Invalid budget definition ${describeValue(definition)}: expected an object.`,
    );
  }
  const scope = ownOption(definition, 'scope');
  assertScopeName(scope);
  const where = `budget "${scope}"`;
  const key = ownOption(definition, 'key');
  if (typeof key !== 'string' || key.length === 0) {
    throw new TokencapConfigError(
      `Invalid key ${describeValue(key).slice(0, 64)} for ${where}: expected a non-empty string.`,
    );
  }
  const limits = normalizeLimit(ownOption(definition, 'limit'), where);
  const options = normalizeOptions(definition, where, DEFINITION_KEYS);
  return Object.freeze(stampLedgerId({ id: `${scope}:${key}`, scope, key, limits, ...options }));
}
