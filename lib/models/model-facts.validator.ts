import { quoteClientValue, TokencapConfigError } from '../errors.js';
import type { ModelFacts, ModelPrice, TokenRates } from './model-facts.js';

const RATE_KEYS = ['input', 'cachedInput', 'cacheWrite5m', 'cacheWrite1h', 'output'] as const;
// Encodings are not among them: counting reads the shipped tables' (add a model there to count
// it exactly); a fact that would be accepted and then ignored must be refused instead.
const FACT_KEYS = ['price', 'maxOutputTokens', 'reasoning'];

/**
 * The highest rate accepted, in USD per 1M tokens: 100 times the dearest published model's. A
 * larger one is a unit mistake (a price per token given as per 1M is far smaller, not larger; per
 * 1B or in cents is larger), and would make every call under a usd budget unaffordable.
 */
export const MAX_PRICE_PER_MILLION = 100_000;

const EXPECTED_PRICE =
  `Expected { input, cachedInput?, output } in USD per 1M tokens, each a finite number from 0 to ${MAX_PRICE_PER_MILLION}. ` +
  'Optional: cacheWrite5m, cacheWrite1h, and longContext: { above, ...the same rates }.';

/** Where a user-given fact sits, for error messages: `prices["my-model"]`. */
export function entryName(option: string, model: string): string {
  return `${option}[${quoteClientValue(model)}]`;
}

/**
 * Validates a price from user options and returns a frozen copy.
 * @throws TokencapConfigError naming `where` and the bad value.
 */
export function validatePrice(price: unknown, where: string): ModelPrice {
  const p = plainObject(price);
  const rates = p && validRates(p, ['longContext']);
  const long = p?.longContext === undefined ? undefined : plainObject(p.longContext);
  const longRates = long && validRates(long, ['above']);
  const above = long?.above;
  const longOk =
    p?.longContext === undefined ||
    (longRates !== undefined &&
      typeof above === 'number' &&
      Number.isSafeInteger(above) &&
      above >= 0);
  if (!rates || !longOk) {
    throw new TokencapConfigError(`Invalid ${where}: ${describe(price)}. ${EXPECTED_PRICE}`);
  }
  const out: ModelPrice = { ...rates };
  if (longRates) out.longContext = Object.freeze({ ...longRates, above: above as number });
  return Object.freeze(out);
}

/**
 * Validates the facts of one model from user options (price, maxOutputTokens, reasoning) and
 * returns a frozen copy.
 * @throws TokencapConfigError naming `where` and the bad value.
 */
export function validateFacts(facts: unknown, where: string): ModelFacts {
  const f = plainObject(facts);
  const unknown = f ? Object.keys(f).filter((k) => !FACT_KEYS.includes(k)) : [];
  if (!f || unknown.length > 0) {
    throw new TokencapConfigError(
      `Invalid ${where}: ${describe(facts)}. Expected an object with any of ${FACT_KEYS.join(', ')}.`,
    );
  }
  const out: ModelFacts = {};
  if (f.price !== undefined) out.price = validatePrice(f.price, `${where}.price`);
  if (f.maxOutputTokens !== undefined) {
    out.maxOutputTokens = validateOutputLimit(f.maxOutputTokens, `${where}.maxOutputTokens`);
  }
  if (f.reasoning !== undefined) {
    if (typeof f.reasoning !== 'boolean') {
      throw new TokencapConfigError(
        `Invalid ${where}.reasoning: ${describe(f.reasoning)}. Expected true or false.`,
      );
    }
    out.reasoning = f.reasoning;
  }
  return Object.freeze(out);
}

/**
 * Validates an output limit: a positive whole number of tokens.
 * @throws TokencapConfigError naming `where`.
 */
export function validateOutputLimit(limit: unknown, where: string): number {
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new TokencapConfigError(
      `Invalid ${where}: ${describe(limit)}. Expected a positive whole number of tokens.`,
    );
  }
  return limit;
}

function validRates(
  p: Record<string, unknown>,
  extraKeys: readonly string[],
): TokenRates | undefined {
  const ok = (n: unknown) =>
    typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= MAX_PRICE_PER_MILLION;
  if (
    Object.keys(p).some(
      (k) => !(RATE_KEYS as readonly string[]).includes(k) && !extraKeys.includes(k),
    )
  ) {
    return undefined;
  }
  if (!ok(p.input) || !ok(p.output)) return undefined;
  const rates: TokenRates = { input: p.input as number, output: p.output as number };
  for (const key of ['cachedInput', 'cacheWrite5m', 'cacheWrite1h'] as const) {
    if (p[key] === undefined) continue;
    if (!ok(p[key])) return undefined;
    rates[key] = p[key] as number;
  }
  return rates;
}

// Own properties of a plain object only: `{ "__proto__": … }` from JSON cannot smuggle in values.
function plainObject(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null
    ? (value as Record<string, unknown>)
    : undefined;
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
