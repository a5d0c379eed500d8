import type { ArgumentsHost } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { describe, expect, it, vi } from 'vitest';
import {
  BudgetExceededError,
  BudgetKeyMissingError,
  StoreUnavailableError,
} from '../../../lib/errors.js';
import { budgetErrorResponse } from '../../../lib/nest/budget-error.response.js';
import { BudgetExceptionFilter } from '../../../lib/nest/budget-exception.filter.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { BudgetHeadersWriter } from '../../../lib/nest/budget-headers.writer.js';
import { resolveTokencapOptions } from '../../../lib/nest/tokencap-options.validator.js';

const refusal = (over: Partial<ConstructorParameters<typeof BudgetExceededError>[0]> = {}) =>
  new BudgetExceededError({
    scope: 'user',
    key: 'secret-user-id',
    dimension: 'tokens',
    limit: 1000,
    used: 700,
    reserved: 200,
    requested: 300,
    policy: 'hard-stop',
    ...over,
  });

function host(type: string, headersSent = false) {
  const adapter = { reply: vi.fn(), end: vi.fn(), isHeadersSent: vi.fn(() => headersSent) };
  const response = {};
  const args = {
    getType: () => type,
    switchToHttp: () => ({ getResponse: () => response }),
  } as unknown as ArgumentsHost;
  const adapterHost = { httpAdapter: adapter } as unknown as HttpAdapterHost;
  const options = resolveTokencapOptions({});
  const writer = new BudgetHeadersWriter(
    adapterHost,
    new Ledger({ store: options.store }),
    options,
  );
  const filter = new BudgetExceptionFilter(adapterHost, writer);
  return { adapter, response, args, filter };
}

describe('BudgetExceptionFilter', () => {
  it('replies 429 with the refused budget, never its key', () => {
    const { adapter, response, args, filter } = host('http');
    filter.catch(refusal(), args);
    expect(adapter.reply).toHaveBeenCalledWith(
      response,
      {
        statusCode: 429,
        error: 'Budget Exceeded',
        message: 'Budget "user" exceeded: the call needs 300 tokens, 100 of 1000 tokens remain.',
        scope: 'user',
        limit: 1000,
        used: 700,
      },
      429,
    );
    expect(JSON.stringify(adapter.reply.mock.calls[0][1])).not.toContain('secret-user-id');
  });

  it('formats dollar budgets in USD', () => {
    const body = budgetErrorResponse(
      refusal({ dimension: 'usd', limit: 5, used: 4.25, reserved: 0.5, requested: 0.3 }),
    );
    expect(body.message).toBe(
      'Budget "user" exceeded: the call needs 0.3 USD, 0.25 of 5 USD remain.',
    );
  });

  it('replies 400 for a missing key and 503 without the store’s own message', () => {
    expect(budgetErrorResponse(new BudgetKeyMissingError('session'))).toMatchObject({
      statusCode: 400,
      error: 'Bad Request',
      scope: 'session',
    });
    const body = budgetErrorResponse(
      new StoreUnavailableError('redis://admin:pw@10.0.0.7 refused'),
    );
    expect(body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'The budget store is unavailable, so the call was refused. Try again later.',
    });
  });

  it('ends a response whose headers are already sent (a stream refused midway)', () => {
    const { adapter, response, args, filter } = host('http', true);
    filter.catch(refusal(), args);
    expect(adapter.end).toHaveBeenCalledWith(response);
    expect(adapter.reply).not.toHaveBeenCalled();
  });

  // GraphQL, ws and rpc replies are tested on the real transports (test/e2e/transports).
  it.each(['a-custom-transport'])('rethrows the error itself for %s', (type) => {
    const { adapter, args, filter } = host(type);
    const error = refusal();
    expect(() => filter.catch(error, args)).toThrow(error);
    expect(adapter.reply).not.toHaveBeenCalled();
  });
});
