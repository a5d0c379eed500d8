import {
  Injectable,
  type OnApplicationShutdown,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { Observable } from 'rxjs';
import { TokencapConfigError } from '../errors.js';
import { BUDGET_METADATA, type BudgetMetadata } from './budget.decorator.js';
import { BudgetResolver } from './budget.resolver.js';
import { BudgetRunner, type ReturnKind } from './budget.runner.js';
import { copyMethodMetadata } from './copy-method-metadata.js';

// Nest's lifecycle hooks: a class-level @Budget on a provider does not budget them.
const LIFECYCLE_HOOKS = new Set([
  'onModuleInit',
  'onApplicationBootstrap',
  'onModuleDestroy',
  'beforeApplicationShutdown',
  'onApplicationShutdown',
]);

// Read through the wrapper's `get` trap: the method it wraps. Lets an app re-bind an instance that
// another (possibly closed) app wrapped, instead of stacking wrappers.
const ORIGINAL = Symbol('tokencap.original');

type AnyFunction = (...args: unknown[]) => unknown;

interface Patch {
  readonly instance: Record<string, unknown>;
  readonly name: string;
  readonly wrapper: AnyFunction;
  readonly previous: PropertyDescriptor | undefined;
}

/**
 * At bootstrap: validates every `@Budget` in the app (unknown scopes and bad options fail here,
 * naming the method), and binds the budgeted methods of providers to this app's ledger.
 *
 * Controller handlers are budgeted by the interceptor. Provider methods (a service called from a
 * controller, a cron job, a queue consumer, a script) are not reached by interceptors, so each
 * budgeted method of each provider *instance* is replaced with a wrapper that opens its budgets
 * with this app's ledger. The wrapper carries every metadata key of the original, and the
 * prototype is never touched, so another app built from the same classes is unaffected.
 */
@Injectable()
export class BudgetExplorer implements OnModuleInit, OnApplicationShutdown {
  private readonly patches: Patch[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly resolver: BudgetResolver,
    private readonly runner: BudgetRunner,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getControllers()) {
      if (isClass(wrapper.metatype)) this.checkController(wrapper.metatype);
    }
    for (const wrapper of this.discovery.getProviders()) {
      const { metatype } = wrapper;
      if (!wrapper.isDependencyTreeStatic()) {
        // A request-scoped instance is created per request, after bootstrap: it cannot be bound here,
        // and a budget silently not applied would be worse than an error.
        if (isClass(metatype) && this.budgetedMethods(metatype.prototype, metatype).length > 0) {
          throw new TokencapConfigError(
            `@Budget on ${metatype.name}: request-scoped (or request-dependent) providers cannot be budgeted. ` +
              `Make ${metatype.name} a singleton, or put @Budget on the method that calls it.`,
          );
        }
        continue;
      }
      const instances = wrapper.isTransient
        ? wrapper.getStaticTransientInstances().map((i) => i?.instance)
        : [wrapper.instance];
      for (const instance of instances) {
        if (instance !== null && typeof instance === 'object') this.bind(instance);
      }
    }
  }

  /** Puts back the original methods, so a closed app leaves its providers as it found them. */
  onApplicationShutdown(): void {
    for (const { instance, name, wrapper, previous } of this.patches.splice(0).reverse()) {
      if (instance[name] !== wrapper) continue;
      if (previous) Object.defineProperty(instance, name, previous);
      else delete instance[name];
    }
  }

  private checkController(metatype: Type): void {
    const own = Reflect.getMetadata(BUDGET_METADATA, metatype) as BudgetMetadata[] | undefined;
    if (own) this.resolver.compile(own, metatype.name);
    for (const { name, metadata } of this.budgetedMethods(metatype.prototype, metatype)) {
      this.resolver.compile(metadata, `${metatype.name}.${name}`);
    }
  }

  private bind(instance: object): void {
    const prototype = Object.getPrototypeOf(instance) as object | null;
    if (!prototype || prototype === Object.prototype) return;
    const ctor = (instance as { constructor?: unknown }).constructor;
    const owner = typeof ctor === 'function' ? (ctor as Type) : undefined;
    for (const { name, metadata } of this.budgetedMethods(prototype, owner)) {
      const target = instance as Record<string, unknown>;
      const current = target[name] as AnyFunction & { [ORIGINAL]?: AnyFunction };
      if (typeof current !== 'function') continue;
      const original = current[ORIGINAL] ?? current;
      const templates = this.resolver.compile(metadata, `${owner?.name ?? 'provider'}.${name}`);
      const kind = returnKindOf(prototype, name, original);
      const runner = this.runner;
      const wrapper = new Proxy(original, {
        apply: (fn, self, args) =>
          runner.invoke(templates, () => Reflect.apply(fn, self, args), kind),
        get: (fn, property, receiver) =>
          property === ORIGINAL ? fn : Reflect.get(fn, property, receiver),
      });
      copyMethodMetadata(original, wrapper);
      const previous = Object.getOwnPropertyDescriptor(target, name);
      Object.defineProperty(target, name, {
        value: wrapper,
        writable: true,
        configurable: true,
        enumerable: false,
      });
      this.patches.push({ instance: target, name, wrapper, previous });
    }
  }

  /** The methods of `prototype` with `@Budget` metadata (their own, else the class's). */
  private budgetedMethods(
    prototype: object,
    owner: Type | undefined,
  ): { name: string; metadata: readonly BudgetMetadata[] }[] {
    const classLevel = owner
      ? (Reflect.getMetadata(BUDGET_METADATA, owner) as BudgetMetadata[] | undefined)
      : undefined;
    const out: { name: string; metadata: readonly BudgetMetadata[] }[] = [];
    for (const name of this.scanner.getAllMethodNames(prototype)) {
      const method = (prototype as Record<string, unknown>)[name] as AnyFunction;
      const metadata = this.reflector.getAllAndOverride<BudgetMetadata[] | undefined>(
        BUDGET_METADATA,
        owner ? [method, owner] : [method],
      );
      if (!metadata?.length) continue;
      if (metadata === classLevel && LIFECYCLE_HOOKS.has(name)) continue;
      out.push({ name, metadata });
    }
    return out;
  }
}

function isClass(value: unknown): value is Type {
  return typeof value === 'function' && typeof value.prototype === 'object';
}

function returnKindOf(prototype: object, name: string, method: AnyFunction): ReturnKind {
  const declared = Reflect.getMetadata('design:returntype', prototype, name) as unknown;
  if (declared === Promise || method.constructor?.name === 'AsyncFunction') return 'promise';
  if (
    declared === Observable ||
    (typeof declared === 'function' && declared.prototype instanceof Observable)
  ) {
    return 'observable';
  }
  return 'unknown';
}
