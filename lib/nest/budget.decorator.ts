import {
  assertScopeName,
  type Budget as CoreBudget,
  type BudgetLimit,
  type BudgetOptions,
  normalizeLimit,
  normalizeOptions,
} from '../core/budget.js';
import { parseWindow } from '../core/budget-window.js';
import { TokencapConfigError } from '../errors.js';
import { assertPlainObject } from './plain-object.guard.js';
import {
  type AnyFunction,
  originalOf,
  wrapBudgetedMethod,
  wrapClassMethods,
} from './budget-method.wrapper.js';

/** Metadata key under which `@Budget` stores its declarations (an array, outermost first). */
export const BUDGET_METADATA = 'tokencap:budget';

/** One `@Budget(scope, limit, options)` declaration, as stored in metadata. */
export interface BudgetMetadata {
  readonly scope: string;
  readonly limit: BudgetLimit;
  readonly options: Readonly<BudgetOptions>;
}

/**
 * A validated budget (the engine's type; the `@Budget` decorator shares its name, so both are
 * exported from here).
 */
export type Budget = CoreBudget;

/**
 * Opens a budget around a controller handler or a provider method: every LLM call made while it
 * runs (through a wrapped client, or `BudgetService.charge()`) is charged to it, and refused once it
 * is spent. The decorator itself charges nothing.
 *
 * - `scope` is a built-in scope (`request`, `task`, `global`) or one configured in
 *   `TokencapModule.forRoot({ scopes })`; an unknown scope fails at bootstrap.
 * - `limit` is a number of tokens, or `{ tokens?, usd?, requests? }`.
 * - On a class, it applies to every handler (controller) or method (provider) that has none of its own.
 * - Several `@Budget` on one method open them all (a call is charged to each); nested budgeted calls
 *   charge every enclosing budget.
 *
 * Arguments are validated when the class is defined; the error names the method.
 * @example
 * ```ts
 * @Post('chat')
 * @Budget('session', 50_000, { window: '1h' })
 * @Budget('user', { usd: 5 }, { window: '1d', policy: 'degrade', fallbackModel: 'gpt-4o-mini' })
 * chat(@Body() body: ChatDto) { … }
 * ```
 */
export function Budget(
  scope: string,
  limit: BudgetLimit,
  options: BudgetOptions = {},
): ClassDecorator & MethodDecorator {
  return ((target: object, propertyKey?: string | symbol, descriptor?: PropertyDescriptor) => {
    const owner = typeof target === 'function' ? target : target.constructor;
    const method = propertyKey === undefined ? '' : `.${String(propertyKey)}`;
    const where = `@Budget('${String(scope)}') on ${owner.name}${method}`;
    validate(scope, limit, options, where);
    if (
      propertyKey !== undefined &&
      (typeof target === 'function' || typeof descriptor?.value !== 'function')
    ) {
      throw new TokencapConfigError(
        `${where}: @Budget goes on a class or an instance method, not on a static method, getter or property.`,
      );
    }

    // A method is wrapped here, when its class is defined, so that whatever takes a reference to
    // it later (a scheduler, an event emitter, in any module order) takes the budgeted wrapper.
    if (descriptor && !originalOf(descriptor.value)) {
      descriptor.value = wrapBudgetedMethod(descriptor.value as AnyFunction);
    }
    const host: object = descriptor ? descriptor.value : target;
    const existing = (Reflect.getOwnMetadata(BUDGET_METADATA, host) ?? []) as BudgetMetadata[];
    // One scope with two windows is two ledgers (an hourly and a daily cap of one user); the same
    // scope and window twice would be one ledger checked twice.
    const window = windowTagOf(options, where);
    if (existing.some((m) => m.scope === scope && windowTagOf(m.options, where) === window)) {
      throw new TokencapConfigError(
        `${where}: scope "${scope}" is declared twice with ${window === undefined ? 'no window' : `the same window (${JSON.stringify(options.window)})`}; ` +
          `one budget per scope and window on a method (two windows, e.g. '1h' and '1d', are two budgets).`,
      );
    }
    const entry: BudgetMetadata = Object.freeze({
      scope,
      limit: typeof limit === 'object' ? Object.freeze({ ...limit }) : limit,
      options: Object.freeze({ ...options }),
    });
    // Decorators apply bottom-up; prepending keeps the array in reading order (outermost first).
    Reflect.defineMetadata(BUDGET_METADATA, Object.freeze([entry, ...existing]), host);
    if (!descriptor) {
      wrapClassMethods((target as { prototype: object }).prototype, (fn) =>
        Reflect.hasOwnMetadata(BUDGET_METADATA, fn),
      );
    }
    return descriptor;
  }) as ClassDecorator & MethodDecorator;
}

/** The canonical window of a declaration (`'1h'` and `3_600_000` are one), or none. */
function windowTagOf(options: BudgetOptions, where: string): string | undefined {
  if (options.window === undefined) return undefined;
  return parseWindow(options.window, `window of ${where}`, options.timeZone).tag;
}

function validate(scope: string, limit: BudgetLimit, options: BudgetOptions, where: string): void {
  assertScopeName(scope, `${where}: scope`);
  if (typeof limit === 'object' && limit !== null)
    assertPlainObject(limit, `The limit of ${where}`);
  normalizeLimit(limit, where);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TokencapConfigError(
      `Invalid options ${JSON.stringify(options)} for ${where}: expected an object.`,
    );
  }
  assertPlainObject(options, `The options of ${where}`);
  // The module's default policy is not known yet: degrade-only options imply 'degrade' here, and the
  // full check with the module's defaults runs again at bootstrap.
  const impliesDegrade = ['fallbackModel', 'degradeAt', 'fallback'].some(
    (k) => options[k as keyof BudgetOptions] !== undefined,
  );
  normalizeOptions(
    { ...options, policy: options.policy ?? (impliesDegrade ? 'degrade' : undefined) },
    where,
  );
}
