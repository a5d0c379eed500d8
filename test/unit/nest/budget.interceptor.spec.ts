import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { defer, Observable, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { currentFrame } from '../../../lib/core/budget-context.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { Budget } from '../../../lib/nest/budget.decorator.js';
import { BudgetHeadersWriter } from '../../../lib/nest/budget-headers.writer.js';
import { BudgetInterceptor } from '../../../lib/nest/budget.interceptor.js';
import { BudgetRequestContext } from '../../../lib/nest/budget-request.context.js';
import { BudgetResolver } from '../../../lib/nest/budget.resolver.js';
import { BudgetRunner } from '../../../lib/nest/budget.runner.js';
import { GraphqlFieldBudgets } from '../../../lib/nest/transports/graphql-field.budgets.js';
import { resolveTokencapOptions } from '../../../lib/nest/tokencap-options.validator.js';

class Handlers {
  @Budget('tenant', 100)
  handle() {}
}

function setup(
  tenant: (data: { tenant?: unknown } | undefined) => unknown = (data) => data?.tenant,
) {
  const options = resolveTokencapOptions({
    store: new MemoryLedgerStore({ sweepInterval: false }),
    scopes: { tenant: tenant as never },
  });
  const ledger = new Ledger({ store: options.store });
  const requests = new BudgetRequestContext();
  const reflector = new Reflector();
  const resolver = new BudgetResolver(options, reflector);
  const adapterHost = { httpAdapter: { setHeader: () => undefined } } as never;
  const interceptor = new BudgetInterceptor(
    requests,
    resolver,
    new BudgetRunner(ledger, requests, resolver),
    new BudgetHeadersWriter(adapterHost, ledger, options),
    new GraphqlFieldBudgets(),
    adapterHost,
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

  // Other transports get the error itself, for their own exception handling (the HTTP mapping is
  // tested in test/e2e/resolver-errors.e2e-spec.ts).
  it.each([
    ['returns an object', 'invalid', () => ({ id: 'secret-key-value' })],
    ['returns an array', 'invalid', () => ['secret-key-value']],
    ['returns a boolean', 'invalid', () => true],
    [
      'throws',
      'failed',
      () => {
        throw new Error('resolver exploded with secret-key-value');
      },
    ],
    ['rejects', 'failed', () => Promise.reject(new Error('secret-key-value'))],
  ])(
    'delivers a resolver that %s as BudgetKeyMissingError naming the scope, not the value',
    async (_, problem, tenant) => {
      const { interceptor, rpcContext } = setup(tenant);
      let handled = false;
      const error = await new Promise<Error>((resolve) =>
        interceptor
          .intercept(rpcContext({}), { handle: () => defer(() => of((handled = true))) })
          .subscribe({ error: resolve }),
      );
      expect(error).toMatchObject({ name: 'BudgetKeyMissingError', scope: 'tenant', problem });
      expect(error.message).toContain('"tenant"');
      expect(error.message).not.toContain('secret-key-value');
      expect(handled).toBe(false);
    },
  );

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
