import { Controller, Post } from '@nestjs/common';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { STORES } from '../fixtures/stores.fixture.js';

// Two routes declare one ledger (scope "session", window 1h) with different limits: usage charged
// through either fires both declarations' thresholds and exhaustion, once each.

const TOKENS_PER_CALL = 207;

@Controller()
class SessionRoutes {
  constructor(private readonly budgets: BudgetService) {}

  @Post('small')
  @Budget('session', 1000, { window: '1h' })
  small() {
    return this.spend();
  }

  @Post('big')
  @Budget('session', 100_000, { window: '1h' })
  big() {
    return this.spend();
  }

  private async spend() {
    const reservation = await this.budgets.reserve(TOKENS_PER_CALL);
    await reservation.commit({ tokens: TOKENS_PER_CALL });
    return { tokens: TOKENS_PER_CALL };
  }
}

describe.each(STORES)('@Budget declarations sharing a ledger (%s)', (name, makeStore) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  const start = async (store: LedgerStore) => {
    t = await createTestApp({
      imports: [
        TokencapModule.forRoot({
          store,
          scopes: {
            session: (req: { headers: Record<string, string> }) => req?.headers['x-session-id'],
          },
        }),
      ],
      controllers: [SessionRoutes],
    });
    return t;
  };
  const post = (app: TestApp, path: string, session = 's1') =>
    request(app.app.getHttpServer()).post(path).set('x-session-id', session);
  const crossed = (app: TestApp) =>
    app.events
      .filter((e) => e.type !== 'usage')
      .map((e) => {
        const x = e as { key?: string; threshold?: number; limit?: number; used?: number };
        return `${e.type}${x.threshold ? ` ${x.threshold}` : ''} ${x.key} limit=${x.limit} used=${x.used}`;
      });

  it('/small, then /big six times: the small declaration warns at 80 % and 90 % and is exhausted before its 429', async () => {
    const store = await makeStore(`shared-ledger-${name.split(' ')[0]}`);
    if (!store) return;
    const app = await start(store);
    const statuses = [(await post(app, '/small')).status];
    for (let i = 0; i < 6; i++) statuses.push((await post(app, '/big')).status);
    const refused = await post(app, '/small');
    statuses.push(refused.status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 201, 201, 429]);
    expect(refused.body).toMatchObject({ scope: 'session', limit: 1000, used: 1449 });
    expect(crossed(app)).toEqual([
      'threshold 0.8 s1 limit=1000 used=828',
      'threshold 0.9 s1 limit=1000 used=1035',
      'exhausted s1 limit=1000 used=1035',
      'refused s1 limit=1000 used=1449',
    ]);
    // One usage event per call that ran, for its own declaration.
    expect(app.events.filter((e) => e.type === 'usage').map((e) => e.limit)).toEqual([
      1000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000,
    ]);
  });

  it("fires the thresholds of a declaration the key never used, and never another key's", async () => {
    const store = await makeStore(`shared-ledger-unused-${name.split(' ')[0]}`);
    if (!store) return;
    const app = await start(store);
    for (let i = 0; i < 5; i++) await post(app, '/big', 'alice').expect(201);
    await post(app, '/big', 'bob').expect(201);
    expect(crossed(app)).toEqual([
      'threshold 0.8 alice limit=1000 used=828',
      'threshold 0.9 alice limit=1000 used=1035',
      'exhausted alice limit=1000 used=1035',
    ]);
    await post(app, '/small', 'alice').expect(429);
    await post(app, '/small', 'bob').expect(201);
    expect(crossed(app).slice(3)).toEqual(['refused alice limit=1000 used=1035']);
  });
});

// One route limits tokens and usd, another tokens alone, on one monthly ledger per user.
const BERLIN_MONTH = { window: 'month', timeZone: 'Europe/Berlin' } as const;

@Controller()
class UsdFirst {
  @Post('a')
  @Budget('user', { tokens: 3000, usd: 0.01 }, BERLIN_MONTH)
  a() {
    return 1;
  }

  @Post('b')
  @Budget('user', 2000, BERLIN_MONTH)
  b() {
    return 1;
  }
}

@Controller()
class UsdSecond {
  @Post('a')
  @Budget('user', 2000, BERLIN_MONTH)
  a() {
    return 1;
  }

  @Post('b')
  @Budget('user', { tokens: 3000, usd: 0.01 }, BERLIN_MONTH)
  b() {
    return 1;
  }
}

describe('BudgetService.credit and reset on a ledger several @Budgets declare', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  const start = async (controller: typeof UsdFirst | typeof UsdSecond) => {
    t = await createTestApp({
      imports: [TokencapModule.forRoot({ scopes: { user: () => 'alice' } })],
      controllers: [controller],
    });
    return t.get(BudgetService);
  };

  it.each([
    ['usd declared first', UsdFirst],
    ['usd declared second', UsdSecond],
  ])(
    'accepts a credit in any dimension one of them limits, and answers the same whatever the order (%s)',
    async (_order, controller) => {
      const budgets = await start(controller);
      const credited = await budgets.credit('user', 'alice', { usd: 0.005 }, BERLIN_MONTH);
      // Each dimension any declaration limits, at the tightest declared limit, raised by the credit.
      expect(credited.dimensions).toEqual({
        tokens: expect.objectContaining({ limit: 2000, used: 0, credit: 0 }),
        usd: expect.objectContaining({ limit: 0.015, used: 0, credit: 0.005 }),
      });
      // The usd declaration's limit is raised.
      const usd = await budgets.usageOf('user', 'alice', {
        ...BERLIN_MONTH,
        limit: { tokens: 3000, usd: 0.01 },
      });
      expect(usd.dimensions.usd).toMatchObject({ limit: 0.015, credit: 0.005 });
      const tokens = await budgets.credit('user', 'alice', { tokens: 100 }, BERLIN_MONTH);
      expect(tokens.dimensions).toEqual({
        tokens: expect.objectContaining({ limit: 2100, credit: 100 }),
        usd: expect.objectContaining({ limit: 0.015, credit: 0.005 }),
      });
      const reset = await budgets.reset('user', 'alice', BERLIN_MONTH);
      expect(Object.keys(reset.dimensions)).toEqual(['tokens', 'usd']);
      await expect(budgets.credit('user', 'alice', { requests: 5 }, BERLIN_MONTH)).rejects.toThrow(
        'Invalid credit for budget "user": it does not limit "requests" (it limits tokens, usd).',
      );
    },
  );
});
