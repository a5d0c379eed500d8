import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { defer, Observable, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { currentFrame } from '../../../lib/core/budget-context.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { Budget } from '../../../lib/nest/budget.decorator.js';
import { BudgetInterceptor } from '../../../lib/nest/budget.interceptor.js';
import { BudgetRequestContext } from '../../../lib/nest/budget-request.context.js';
import { BudgetResolver } from '../../../lib/nest/budget.resolver.js';
import { resolveTokencapOptions } from '../../../lib/nest/tokencap-options.validator.js';

class Handlers {
  @Budget('tenant', 100)
  handle() {}
}

function setup() {
  const options = resolveTokencapOptions({
    store: new MemoryLedgerStore({ sweepInterval: false }),
    scopes: { tenant: (data: { tenant?: string } | undefined) => data?.tenant },
  });
  const ledger = new Ledger({ store: options.store });
  const requests = new BudgetRequestContext();
  const interceptor = new BudgetInterceptor(
    new Reflector(),
    ledger,
    requests,
    new BudgetResolver(options),
  );
  const rpcContext = (data: unknown) =>
    ({
      getType: () => 'rpc',
      getArgs: () => [data, {}],
      getHandler: () => Handlers.prototype.handle,
      getClass: () => Handlers,
      switchToHttp: () => {
        throw new Error('not http');
      },
    }) as unknown as ExecutionContext;
  return { ledger, requests, interceptor, rpcContext };
}

describe('BudgetInterceptor', () => {
  it('takes the request of other transports from the first argument, and opens the budget', async () => {
    const { interceptor, rpcContext, requests } = setup();
    const next: CallHandler = {
      handle: () =>
        defer(() =>
          of({ ids: currentFrame()?.budgets.map((b) => b.id), data: requests.current()?.request }),
        ),
    };
    const result = await new Promise((resolve, reject) =>
      interceptor
        .intercept(rpcContext({ tenant: 'acme' }), next)
        .subscribe({ next: resolve, error: reject }),
    );
    expect(result).toEqual({ ids: ['tenant:acme'], data: { tenant: 'acme' } });
  });

  it('delivers a missing key as an error of the returned Observable', async () => {
    const { interceptor, rpcContext } = setup();
    const error = await new Promise((resolve) =>
      interceptor.intercept(rpcContext({}), { handle: () => of(1) }).subscribe({ error: resolve }),
    );
    expect(error).toMatchObject({ name: 'BudgetKeyMissingError', scope: 'tenant' });
  });

  it('propagates unsubscription to the handler stream (teardown)', () => {
    const { interceptor, rpcContext } = setup();
    let tornDown = false;
    let subscribedInFrame = false;
    const next: CallHandler = {
      handle: () =>
        new Observable(() => {
          subscribedInFrame = currentFrame()?.budgets[0]?.id === 'tenant:acme';
          return () => (tornDown = true);
        }),
    };
    const subscription = interceptor.intercept(rpcContext({ tenant: 'acme' }), next).subscribe();
    expect(subscribedInFrame).toBe(true);
    expect(tornDown).toBe(false);
    subscription.unsubscribe();
    expect(tornDown).toBe(true);
  });
});
