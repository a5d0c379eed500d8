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
import {
  type AnyFunction,
  BUDGET_BINDING,
  type BudgetBinding,
  classBudgetApplies,
  originalOf,
} from './budget-method.wrapper.js';
import { BudgetRequestContext } from './budget-request.context.js';
import { type BudgetTemplate, BudgetResolver } from './budget.resolver.js';
import { BudgetRunner, failAs, type ReturnKind } from './budget.runner.js';

interface BoundMethod {
  readonly templates: readonly BudgetTemplate[];
  readonly kind: ReturnKind;
  readonly where: string;
}

/**
 * At bootstrap: validates every `@Budget` in the app (unknown scopes and bad options fail here,
 * naming the method), and binds the provider instances that have budgeted methods to this app.
 *
 * Controller handlers are budgeted by the interceptor. Provider methods (a service called from a
 * controller, a cron job, a queue consumer, a script) are not reached by interceptors: `@Budget`
 * wraps them when their class is defined (see `wrapBudgetedMethod`), and this explorer marks each
 * provider *instance* of this app, so the wrapper opens this app's budgets when called on it. The
 * prototype's wrapper is the same for every app; which budgets it opens depends on the instance, so
 * another app built from the same classes is unaffected, and the order in which modules collect
 * methods (ScheduleModule, event emitters) does not matter.
 */
@Injectable()
export class BudgetExplorer implements OnModuleInit, OnApplicationShutdown, BudgetBinding {
  private readonly bound: Record<PropertyKey, unknown>[] = [];
  private readonly methods = new Map<AnyFunction, BoundMethod>();
  // Wrappers of controller handlers: only the interceptor can open their budgets (it has the request).
  private readonly handlers = new Set<AnyFunction>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly resolver: BudgetResolver,
    private readonly runner: BudgetRunner,
    private readonly requests: BudgetRequestContext,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getControllers()) {
      if (isClass(wrapper.metatype)) this.checkController(wrapper.metatype);
      // Bound so a handler the interceptor did not run around (a hybrid app's microservice
      // without `inheritAppConfig: true`) fails instead of running unbudgeted.
      if (
        wrapper.isDependencyTreeStatic() &&
        wrapper.instance &&
        typeof wrapper.instance === 'object'
      ) {
        this.bind(wrapper.instance as object, true);
      }
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

  /** Unbinds this app's instances: a closed app leaves its providers calling their methods as they are. */
  onApplicationShutdown(): void {
    for (const instance of this.bound.splice(0)) {
      if (instance[BUDGET_BINDING] === this) delete instance[BUDGET_BINDING];
    }
  }

  /** @internal Called by a method wrapper on an instance of this app. */
  call(wrapper: AnyFunction, original: AnyFunction, self: object, args: unknown[]): unknown {
    const method = this.methods.get(wrapper);
    // A wrapper this app found no budget for: a parent's method reached through `super`.
    if (!method) return Reflect.apply(original, self, args);
    const call = this.requests.current();
    if (call?.opened === wrapper) {
      // A gateway or resolver handler whose budgets the interceptor opened around this call.
      return this.requests.run({ ...call, opened: undefined }, () =>
        Reflect.apply(original, self, args),
      );
    }
    if (this.handlers.has(wrapper)) {
      // Inside a request the interceptor has opened this handler's budgets.
      if (call) return Reflect.apply(original, self, args);
      return failAs(
        method.kind,
        new TokencapConfigError(
          `@Budget on ${method.where}: the handler ran without Tokencap's interceptor, so its budget ` +
            `cannot be applied. In a hybrid app, connect the microservice with ` +
            `app.connectMicroservice(options, { inheritAppConfig: true }).`,
        ),
      );
    }
    return this.runner.invoke(
      method.templates,
      () => Reflect.apply(original, self, args),
      method.kind,
    );
  }

  private checkController(metatype: Type): void {
    const own = Reflect.getMetadata(BUDGET_METADATA, metatype) as BudgetMetadata[] | undefined;
    if (own) this.resolver.compile(own, metatype.name);
    for (const { name, metadata } of this.budgetedMethods(metatype.prototype, metatype)) {
      this.resolver.compile(metadata, `${metatype.name}.${name}`);
    }
  }

  private bind(instance: object, controller = false): void {
    const prototype = Object.getPrototypeOf(instance) as object | null;
    if (!prototype || prototype === Object.prototype) return;
    const ctor = (instance as { constructor?: unknown }).constructor;
    const owner = typeof ctor === 'function' ? (ctor as Type) : undefined;
    const budgeted = this.budgetedMethods(prototype, owner);
    if (budgeted.length === 0) return;
    const className = owner?.name ?? 'provider';
    if (owner && Reflect.getMetadata(BUDGET_METADATA, owner)) {
      // A class-level @Budget wraps the methods of the prototype; an arrow-function property
      // (`ask = async () => …`) lives on the instance and would silently run unbudgeted.
      for (const name of Object.getOwnPropertyNames(instance)) {
        const value = Object.getOwnPropertyDescriptor(instance, name)?.value as unknown;
        if (typeof value === 'function' && value.prototype === undefined) {
          throw new TokencapConfigError(
            `@Budget on ${className}: the property ${className}.${name} is a function set on the ` +
              `instance (an arrow function), which a class-level @Budget cannot wrap. Make ${name} ` +
              `a method, or move it out of ${className}.`,
          );
        }
      }
    }
    for (const { name, metadata } of budgeted) {
      const where = `${className}.${name}`;
      const wrapper = (prototype as Record<string, unknown>)[name] as AnyFunction;
      const original = originalOf(wrapper);
      // A controller handler some later decorator replaced is still budgeted by the interceptor.
      if (!original && controller) continue;
      if (!original) {
        // Fail closed: the budget would silently not apply.
        throw new TokencapConfigError(
          `@Budget on ${where}: the method is not the one @Budget wrapped (a decorator applied after ` +
            `it replaced the method, or the method was added after the class was decorated). ` +
            `Put @Budget above the other decorators of ${where}.`,
        );
      }
      this.methods.set(wrapper, {
        templates: this.resolver.compile(metadata, where),
        kind: returnKindOf(prototype, name, original),
        where,
      });
      if (controller) this.handlers.add(wrapper);
    }
    try {
      Object.defineProperty(instance, BUDGET_BINDING, {
        value: this,
        writable: true,
        configurable: true,
        enumerable: false,
      });
    } catch (error) {
      throw new TokencapConfigError(
        `@Budget on ${className}: its instance cannot be bound to the app (is it frozen?).`,
        { cause: error },
      );
    }
    this.bound.push(instance as Record<PropertyKey, unknown>);
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
      if (metadata === classLevel && !classBudgetApplies(name)) continue;
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
  const constructorName = method.constructor?.name;
  if (constructorName === 'AsyncGeneratorFunction') return 'async-iterable';
  if (declared === Promise || constructorName === 'AsyncFunction') return 'promise';
  if (
    declared === Observable ||
    (typeof declared === 'function' && declared.prototype instanceof Observable)
  ) {
    return 'observable';
  }
  return 'unknown';
}
