import { copyMethodMetadata } from './copy-method-metadata.js';

/** Any method. */
export type AnyFunction = (...args: unknown[]) => unknown;

/**
 * How one app runs the budgeted methods of its provider instances. The app's explorer puts itself
 * on each instance it binds, under {@link BUDGET_BINDING}; the method wrappers look it up on `this`.
 */
export interface BudgetBinding {
  /** Calls `original` (the method `wrapper` stands for) on `self` with the app's budgets open. */
  call(wrapper: AnyFunction, original: AnyFunction, self: object, args: unknown[]): unknown;
}

/** The property of a provider instance that holds the {@link BudgetBinding} of its app. */
export const BUDGET_BINDING = Symbol('tokencap.binding');

// Read through a wrapper's `get` trap: the method it wraps.
const ORIGINAL = Symbol('tokencap.original');

// Nest's lifecycle hooks: a class-level @Budget on a provider does not budget them.
const LIFECYCLE_HOOKS = new Set([
  'onModuleInit',
  'onApplicationBootstrap',
  'onModuleDestroy',
  'beforeApplicationShutdown',
  'onApplicationShutdown',
]);

/** Whether a class-level `@Budget` applies to the method `name`. */
export function classBudgetApplies(name: string): boolean {
  return !LIFECYCLE_HOOKS.has(name);
}

/** The method a budget wrapper stands for, or `undefined` when `fn` is not one. */
export function originalOf(fn: unknown): AnyFunction | undefined {
  return typeof fn === 'function'
    ? ((fn as { [ORIGINAL]?: AnyFunction })[ORIGINAL] ?? undefined)
    : undefined;
}

/**
 * Wraps a method when `@Budget` decorates it, so every reference to it taken at any time (by
 * `@nestjs/schedule`, an event emitter, a queue consumer, your own code) is the wrapper. Called on
 * an instance an app has bound, the wrapper opens that app's budgets; on any other object (before
 * bootstrap, after `app.close()`, an instance made with `new`), it calls the method as it is.
 * It carries every metadata key of the original, and forwards every other property to it.
 */
export function wrapBudgetedMethod(original: AnyFunction): AnyFunction {
  const wrapper: AnyFunction = new Proxy(original, {
    apply(target, self: unknown, args: unknown[]) {
      const binding =
        self !== null && typeof self === 'object'
          ? (self as { [BUDGET_BINDING]?: BudgetBinding })[BUDGET_BINDING]
          : undefined;
      return binding
        ? binding.call(wrapper, target, self as object, args)
        : Reflect.apply(target, self, args);
    },
    get(target, property, receiver) {
      return property === ORIGINAL ? target : Reflect.get(target, property, receiver);
    },
  });
  copyMethodMetadata(original, wrapper);
  return wrapper;
}

/**
 * For a class-level `@Budget`: wraps every method of `prototype` (own and inherited, lifecycle hooks
 * and accessors excepted) that has no `@Budget` of its own, on `prototype` itself, so the parent
 * class is unaffected. `hasOwnBudget` tells a method-level wrapper from a class-level one.
 */
export function wrapClassMethods(
  prototype: object,
  hasOwnBudget: (fn: AnyFunction) => boolean,
): void {
  const seen = new Set<string>();
  for (
    let level: object | null = prototype;
    level && level !== Object.prototype;
    level = Object.getPrototypeOf(level) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(level)) {
      if (seen.has(name) || name === 'constructor') continue;
      seen.add(name);
      const descriptor = Object.getOwnPropertyDescriptor(level, name);
      const fn: unknown = descriptor?.value;
      if (typeof fn !== 'function' || !classBudgetApplies(name)) continue;
      if (originalOf(fn) && hasOwnBudget(fn as AnyFunction)) continue;
      Object.defineProperty(prototype, name, {
        ...descriptor,
        value: wrapBudgetedMethod(originalOf(fn) ?? (fn as AnyFunction)),
      });
    }
  }
}
