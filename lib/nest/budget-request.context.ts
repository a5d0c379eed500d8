import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Injectable, type ExecutionContext } from '@nestjs/common';
import { transportMessageOf } from './transports/transport-message.js';

/**
 * What budgeted code needs to know about the request it serves: the request itself (for scope
 * resolvers), the key of its `request` budget, and the scope keys resolved so far.
 */
export interface BudgetCall {
  /** The key of the `request` scope: unique per request. */
  readonly id: string;
  /** What scope resolvers receive (see `transportMessageOf`), or `undefined` outside a request. */
  readonly request: unknown;
  readonly context: ExecutionContext | undefined;
  /** Keys resolved for this request, by scope, so each resolver runs at most once per request. */
  readonly keys: Map<string, string | undefined | Promise<string | undefined>>;
  /**
   * The handler whose `@Budget`s the interceptor has just opened around this frame. Gateways and
   * resolvers are providers, so their budgeted methods are wrapped too: the wrapper of this handler
   * calls it without opening the same budgets (and a second `task` budget) again.
   */
  readonly opened?: unknown;
}

/**
 * Owns this app's AsyncLocalStorage of {@link BudgetCall}s. One instance per app: two apps in one
 * process never see each other's requests. The budget interceptor opens a call around every
 * handler; a budgeted provider method called outside any request opens its own.
 */
@Injectable()
export class BudgetRequestContext {
  private readonly storage = new AsyncLocalStorage<BudgetCall>();
  // One call per request, so a guard (BudgetService.runFor) and the interceptor share the
  // `request` budget and resolved keys. Weak: a request is forgotten with the request.
  private readonly byRequest = new WeakMap<object, BudgetCall>();

  /** The call around the running code, if any. */
  current(): BudgetCall | undefined {
    return this.storage.getStore();
  }

  /** Creates a call for `request` (or for code running outside any request). */
  create(request: unknown, context: ExecutionContext | undefined): BudgetCall {
    return { id: randomUUID(), request, context, keys: new Map() };
  }

  /**
   * The call of the request `context` handles: created on first use, then the same for every
   * guard and interceptor of that request (over HTTP; of that operation over GraphQL; of that
   * message over RPC and WebSockets).
   */
  forContext(context: ExecutionContext): BudgetCall {
    const { request, owner } = transportMessageOf(context);
    if (owner === null || typeof owner !== 'object') return this.create(request, context);
    let call = this.byRequest.get(owner);
    if (!call) {
      call = this.create(request, context);
      this.byRequest.set(owner, call);
    }
    return call;
  }

  /** Runs `fn` inside `call`. */
  run<T>(call: BudgetCall, fn: () => T): T {
    return this.storage.run(call, fn);
  }
}
