import { Controller, Param, Post } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BudgetExceededError,
  BudgetKeyMissingError,
  StoreUnavailableError,
  TokencapConfigError,
  TokencapError,
  TokencapRequestError,
  UnmeteredCallError,
} from '../../lib/engine/index.js';
import { budgetErrorResponse, TokencapModule } from '../../lib/index.js';
import { ADAPTERS, listenOn, type ListeningApp, send } from '../fixtures/http-adapters.fixture.js';

// Every Tokencap error class, as a handler might throw it.
const ERRORS: Record<string, () => TokencapError> = {
  exceeded: () =>
    new BudgetExceededError({
      scope: 'user',
      key: 'k',
      dimension: 'tokens',
      limit: 10,
      used: 8,
      reserved: 0,
      requested: 5,
      policy: 'hard-stop',
    }),
  missing: () => new BudgetKeyMissingError('user'),
  request: () =>
    new TokencapRequestError('max_tokens', -5, 'expected a whole number of at least 1'),
  store: () => new StoreUnavailableError('redis down'),
  unmetered: () => new UnmeteredCallError('unmetered-endpoint', '/images', 'wrapOpenAI'),
  config: () => new TokencapConfigError('Invalid usage -5'),
  plain: () => new TokencapError('generic'),
};

@Controller('throw')
class ThrowingController {
  @Post(':name')
  throw(@Param('name') name: string): never {
    throw ERRORS[name]();
  }
}

describe.each(ADAPTERS)('budgetErrorResponse and the Nest answer on %s', (adapter) => {
  let t: ListeningApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  it('answers every Tokencap error with the status and body a Nest app gives it', async () => {
    t = await listenOn(adapter, {
      imports: [TokencapModule.forRoot()],
      controllers: [ThrowingController],
    });
    const statuses: Record<string, number> = {};
    for (const [name, make] of Object.entries(ERRORS)) {
      const res = await send(`${t.url}/throw/${name}`, 'POST');
      const expected = budgetErrorResponse(make());
      expect(res.body, name).toEqual(expected);
      expect(res.status, name).toBe(expected.statusCode);
      statuses[name] = res.status;
    }
    expect(statuses).toEqual({
      exceeded: 429,
      missing: 400,
      request: 400,
      store: 503,
      unmetered: 500,
      config: 500,
      plain: 500,
    });
  });
});

describe('budgetErrorResponse', () => {
  it.each(['unmetered', 'config', 'plain'])(
    'answers a %s error, which has no status of its own, with Nest’s 500',
    (name) => {
      expect(budgetErrorResponse(ERRORS[name]())).toEqual({
        statusCode: 500,
        message: 'Internal server error',
      });
    },
  );
});
