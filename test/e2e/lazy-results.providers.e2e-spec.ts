import { Controller, Get, Injectable, Param, Query } from '@nestjs/common';
import OpenAI from 'openai';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { currentFrame } from '../../lib/core/budget-context.js';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import {
  consume,
  type Consumed,
  LAZY_SHAPES,
  type LazyShape,
  SHAPE_NAMES,
} from '../fixtures/lazy-shapes.fixture.js';
import {
  agentSteps,
  eventLog,
  LIMIT,
  openAIProvider,
  runawayEvents,
  STEP,
  step,
  useFakeOpenAI,
} from '../fixtures/openai.fixture.js';
import { fixtureScopes, SESSION_HEADER } from '../fixtures/scopes.fixture.js';

const fake = useFakeOpenAI();

/** A provider whose budgeted methods hand back lazy work, in every shape. */
@Injectable()
class Agent {
  /** What the last `watched()` saw in its `finally`, and whether it got there. */
  finallySaw: string[] | undefined;
  thrownIn: unknown;

  constructor(
    private readonly openai: OpenAI,
    private readonly budgets: BudgetService,
  ) {}

  @Budget('task', LIMIT)
  async *steps(): AsyncGenerator<string> {
    yield* agentSteps(this.openai);
  }

  @Budget('task', LIMIT)
  async stepsLater(): Promise<AsyncGenerator<string>> {
    return agentSteps(this.openai);
  }

  @Budget('task', LIMIT)
  lazy(shape: LazyShape): unknown {
    return LAZY_SHAPES[shape](this.openai);
  }

  /** Records the budgets open in its `finally`, and an error thrown into it. */
  @Budget('task', LIMIT)
  async *watched(): AsyncGenerator<string> {
    this.finallySaw = undefined;
    try {
      for (let i = 1; ; i++) yield await step(this.openai, i);
    } catch (error) {
      this.thrownIn = error;
      throw error;
    } finally {
      this.finallySaw = this.budgets.openBudgets().map((b) => b.scope);
    }
  }

  @Budget('task', LIMIT)
  same<T>(value: T): T {
    return value;
  }
}

/** Keyed by a scope whose resolver is async: the generator must wait for its key. */
@Injectable()
class SessionAgent {
  constructor(private readonly openai: OpenAI) {}

  @Budget('session', LIMIT)
  async *steps(): AsyncGenerator<string> {
    yield* agentSteps(this.openai);
  }
}

/** Runs the agent inside a request, under a session budget with room for ten times the task's. */
@Controller('agent')
class AgentController {
  constructor(private readonly agent: Agent) {}

  @Get(':method')
  @Budget('session', 10 * LIMIT)
  async run(@Param('method') method: string, @Query('shape') shape?: LazyShape) {
    const value =
      method === 'steps'
        ? this.agent.steps()
        : method === 'stepsLater'
          ? this.agent.stepsLater()
          : this.agent.lazy(shape!);
    return outcome(await consume(value));
  }
}

function outcome({ items, error }: Consumed) {
  return { items, error: (error as Error | undefined)?.name, scope: (error as never)?.['scope'] };
}

const ITEMS = [1, 2, 3].map((i) => `step ${i}: ${STEP}`);
const TASK_REFUSED = { items: ITEMS, error: 'BudgetExceededError', scope: 'task' };

describe('lazy results of budgeted provider methods', () => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  const start = () =>
    createTestApp({
      imports: [TokencapModule.forRoot({ scopes: fixtureScopes })],
      controllers: [AgentController],
      providers: [openAIProvider(fake), Agent],
    });

  /** What was billed equals what was charged, within the limit, with exactly these events. */
  function expectRunaway(scopes: string[], limited: string[] = scopes) {
    expect(fake.server.tally.requests).toBe(3);
    expect(fake.server.tally.totalTokens).toBe(3 * STEP);
    expect(3 * STEP).toBeLessThanOrEqual(LIMIT);
    expect(eventLog(t.events)).toEqual(runawayEvents(scopes, limited));
  }

  describe('outside a request', () => {
    it('an async generator method runs every step inside its task budget', async () => {
      t = await start();
      expect(outcome(await consume(t.get(Agent).steps()))).toEqual(TASK_REFUSED);
      expectRunaway(['task']);
      expect(currentFrame()).toBeUndefined();
    });

    it('an async method resolving to a generator binds the generator', async () => {
      t = await start();
      expect(outcome(await consume(t.get(Agent).stepsLater()))).toEqual(TASK_REFUSED);
      expectRunaway(['task']);
    });

    it.each(SHAPE_NAMES)(
      'a method returning a %s runs it inside its task budget',
      async (shape) => {
        t = await start();
        expect(outcome(await consume(t.get(Agent).lazy(shape)))).toEqual(TASK_REFUSED);
        expectRunaway(['task']);
        expect(currentFrame()).toBeUndefined();
      },
    );

    it.each(SHAPE_NAMES)(
      'BudgetService.run() returning a %s runs it inside the budget',
      async (shape) => {
        t = await start();
        const openai = t.get(OpenAI);
        const value = t
          .get(BudgetService)
          .run({ scope: 'job', key: 'nightly', limit: LIMIT }, () => LAZY_SHAPES[shape](openai));
        expect(outcome(await consume(value))).toEqual({ ...TASK_REFUSED, scope: 'job' });
        expectRunaway(['job']);
        expect(currentFrame()).toBeUndefined();
      },
    );
  });

  describe('inside a request', () => {
    it.each([
      ['steps', ''],
      ['stepsLater', ''],
      ...SHAPE_NAMES.map((shape) => ['lazy', `?shape=${encodeURIComponent(shape)}`]),
    ])('%s%s: charged to the session and the task, refused by the task', async (method, shape) => {
      t = await start();
      const res = await request(t.app.getHttpServer())
        .get(`/agent/${method}${shape}`)
        .set(SESSION_HEADER, 'alice')
        .expect(200);
      expect(res.body).toEqual(TASK_REFUSED);
      expectRunaway(['session', 'task'], ['task']);
    });
  });

  describe('an async generator method whose key resolves asynchronously', () => {
    const startWith = (session: () => Promise<string>) =>
      createTestApp({
        imports: [TokencapModule.forRoot({ scopes: { session } })],
        providers: [openAIProvider(fake), SessionAgent],
      });

    it('still returns an async generator, running inside the budget once the key is known', async () => {
      t = await startWith(async () => 'nightly');
      const steps = t.get(SessionAgent).steps();
      expect(typeof steps[Symbol.asyncIterator]).toBe('function');
      expect(outcome(await consume(steps))).toEqual({ ...TASK_REFUSED, scope: 'session' });
      expectRunaway(['session']);
    });

    it('fails on the first step when the key cannot be resolved, sending nothing', async () => {
      t = await startWith(() => Promise.reject(new Error('no session store')));
      const steps = t.get(SessionAgent).steps();
      await expect(steps.next()).rejects.toMatchObject({
        name: 'BudgetKeyMissingError',
        scope: 'session',
        problem: 'failed',
      });
      expect(fake.server.requests).toHaveLength(0);
    });
  });

  describe('ending early', () => {
    it('a consumer that stops early returns the generator inside its budget, and no frame leaks', async () => {
      t = await start();
      const agent = t.get(Agent);
      for await (const item of agent.watched()) {
        expect(item).toBe(`step 1: ${STEP}`);
        break;
      }
      expect(agent.finallySaw).toEqual(['task']);
      expect(currentFrame()).toBeUndefined();
      expect(fake.server.tally.totalTokens).toBe(STEP);
      expect(eventLog(t.events)).toEqual([`usage:task:${STEP}`]);
    });

    it('an error thrown into the generator reaches it inside its budget', async () => {
      t = await start();
      const agent = t.get(Agent);
      const steps = agent.watched();
      expect(await steps.next()).toEqual({ done: false, value: `step 1: ${STEP}` });
      const stop = new Error('stop');
      await expect(steps.throw(stop)).rejects.toBe(stop);
      expect(agent.thrownIn).toBe(stop);
      expect(agent.finallySaw).toEqual(['task']);
      expect(await steps.next()).toEqual({ done: true, value: undefined });
      expect(fake.server.tally.totalTokens).toBe(STEP);
    });

    it('a stream destroyed after its first chunk returns its generator inside the budget', async () => {
      t = await start();
      const agent = t.get(Agent);
      const { Readable } = await import('node:stream');
      const stream = agent.same(Readable.from(agent.watched()));
      for await (const item of stream) {
        expect(item).toBe(`step 1: ${STEP}`);
        break; // destroys the stream
      }
      // The generator (made under one task budget) is read by a stream returned from a second
      // budgeted call: its work runs inside both tasks' budgets.
      await expect.poll(() => agent.finallySaw).toEqual(['task', 'task']);
      expect(currentFrame()).toBeUndefined();
    });
  });

  it('returns plain values as they are: arrays, strings, Buffers, Maps, Sets, objects', async () => {
    t = await start();
    const agent = t.get(Agent);
    const values = [
      [1, 2, 3],
      'text',
      Buffer.from('bytes'),
      new Uint8Array([1, 2]),
      new Map([['a', 1]]),
      new Set([1]),
      { a: 1 },
      new Date(0),
      null,
      42,
    ];
    for (const value of values) expect(agent.same(value)).toBe(value);
    expect(fake.server.tally.requests).toBe(0);
  });
});
