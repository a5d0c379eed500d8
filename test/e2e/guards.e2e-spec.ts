import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Injectable,
  Post,
  UseGuards,
} from '@nestjs/common';
import OpenAI from 'openai';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import {
  eventLog,
  LIMIT,
  openAIProvider,
  STEP,
  step,
  useFakeOpenAI,
} from '../fixtures/openai.fixture.js';
import { fixtureScopes, SESSION_HEADER } from '../fixtures/scopes.fixture.js';

const fake = useFakeOpenAI();
/** The guard's step and one of the handler's fit; the handler's second is refused. */
const REQUEST_LIMIT = 2 * STEP + 5;

/** A moderation check that calls the LLM, metered with the handler's budgets. */
@Injectable()
class MeteredModerationGuard implements CanActivate {
  constructor(
    private readonly budgets: BudgetService,
    private readonly openai: OpenAI,
  ) {}

  canActivate(context: ExecutionContext): Promise<boolean> {
    return this.budgets.runFor(context, async () => {
      await step(this.openai, 0);
      return true;
    });
  }
}

/** The same check without runFor(): it runs before the interceptor, outside every budget. */
@Injectable()
class PlainModerationGuard implements CanActivate {
  constructor(private readonly openai: OpenAI) {}

  async canActivate(): Promise<boolean> {
    await step(this.openai, 0);
    return true;
  }
}

@Controller('guarded')
class GuardedController {
  constructor(private readonly openai: OpenAI) {}

  @Post('metered')
  @UseGuards(MeteredModerationGuard)
  @Budget('session', LIMIT)
  @Budget('request', REQUEST_LIMIT)
  async metered() {
    await step(this.openai, 1);
    await step(this.openai, 2);
  }

  @Post('plain')
  @UseGuards(PlainModerationGuard)
  @Budget('session', LIMIT)
  async plain() {
    await step(this.openai, 1);
  }

  @Post('unbudgeted')
  @UseGuards(MeteredModerationGuard)
  async unbudgeted() {
    return 'ok';
  }
}

describe('LLM calls in guards', () => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  const start = () =>
    createTestApp({
      imports: [TokencapModule.forRoot({ scopes: fixtureScopes })],
      controllers: [GuardedController],
      providers: [openAIProvider(fake), MeteredModerationGuard, PlainModerationGuard],
    });

  it('BudgetService.runFor() meters a guard’s call with the handler’s budgets, sharing its request budget', async () => {
    t = await start();
    const res = await request(t.app.getHttpServer())
      .post('/guarded/metered')
      .set(SESSION_HEADER, 'alice')
      .expect(429);
    expect(res.body).toMatchObject({ scope: 'request', limit: REQUEST_LIMIT, used: 2 * STEP });
    await fake.server.settled();
    expect(fake.server.tally.totalTokens).toBe(2 * STEP);
    expect(eventLog(t.events)).toEqual([
      `usage:session:${STEP}`,
      `usage:request:${STEP}`,
      `usage:session:${2 * STEP}`,
      `usage:request:${2 * STEP}`,
      'threshold:request@0.8',
      'threshold:request@0.9',
      'refused:request',
    ]);
  });

  it('a guard’s runFor() needs the request’s keys: without a session, 400 and nothing sent', async () => {
    t = await start();
    const res = await request(t.app.getHttpServer()).post('/guarded/metered').expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, scope: 'session' });
    expect(fake.server.requests).toHaveLength(0);
  });

  it('runFor() on a handler without @Budget runs the call unbudgeted', async () => {
    t = await start();
    await request(t.app.getHttpServer()).post('/guarded/unbudgeted').expect(201);
    expect(fake.server.tally.totalTokens).toBe(STEP);
    expect(t.events).toEqual([]);
  });

  it('without runFor(), a guard’s call is billed but charged to no budget (documented)', async () => {
    t = await start();
    await request(t.app.getHttpServer())
      .post('/guarded/plain')
      .set(SESSION_HEADER, 'bob')
      .expect(201);
    await fake.server.settled();
    expect(fake.server.tally.totalTokens).toBe(2 * STEP);
    expect(eventLog(t.events)).toEqual([`usage:session:${STEP}`]);
  });
});
