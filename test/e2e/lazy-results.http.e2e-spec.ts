import { PassThrough, Readable } from 'node:stream';
import { Controller, Get, type MessageEvent, Param, Sse, StreamableFile } from '@nestjs/common';
import OpenAI from 'openai';
import { from, map, type Observable, of } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { openStream, readAll } from '../fixtures/http-client.fixture.js';
import { LAZY_SHAPES, type LazyShape } from '../fixtures/lazy-shapes.fixture.js';
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

/** Every shape a handler can answer with while its work still has to run. */
@Controller('lazy')
class LazyController {
  /** Whether the handler's generator reached its `finally`, and the budgets it saw there. */
  finallySaw: string[] | undefined;

  constructor(
    private readonly openai: OpenAI,
    private readonly budgets: BudgetService,
  ) {}

  @Get('shape/:shape')
  @Budget('session', LIMIT)
  shape(@Param('shape') shape: LazyShape): unknown {
    return LAZY_SHAPES[shape](this.openai);
  }

  /** An Observable whose one value is a StreamableFile of the runaway loop. */
  @Get('observable-of-file')
  @Budget('session', LIMIT)
  observableOfFile(): Observable<StreamableFile> {
    return of(new StreamableFile(Readable.from(agentSteps(this.openai))));
  }

  /** Worked before: the Observable is subscribed inside the frame. */
  @Sse('sse')
  @Budget('session', LIMIT)
  sse(): Observable<MessageEvent> {
    return from(agentSteps(this.openai)).pipe(map((data) => ({ data })));
  }

  /** Worked before: the loop starts inside the handler, which feeds the stream. */
  @Get('pass-through')
  @Budget('session', LIMIT)
  passThrough(): StreamableFile {
    const out = new PassThrough();
    void (async () => {
      try {
        for await (const item of agentSteps(this.openai)) out.write(`${item}\n`);
        out.end();
      } catch (error) {
        out.destroy(error as Error);
      }
    })();
    return new StreamableFile(out);
  }

  /** A stream a client leaves after the first step. */
  @Get('endless')
  @Budget('session', LIMIT)
  async *endless(): AsyncGenerator<string> {
    this.finallySaw = undefined;
    try {
      for (let i = 1; ; i++) yield `${await step(this.openai, i)}\n`;
    } finally {
      this.finallySaw = this.budgets.openBudgets().map((b) => b.scope);
    }
  }

  /** An unbudgeted handler's lazy body still resolves keys of budgeted methods from its request. */
  @Get('plain')
  plain(): string[] {
    return ['a', 'b'];
  }
}

const STREAMED: LazyShape[] = [
  'async generator',
  'promise of an async generator',
  'thenable of an async generator',
  'async iterable object',
  'hand-written async iterator',
  'Node Readable',
  'StreamableFile',
  'promise of a StreamableFile',
  'web ReadableStream',
  'web Response',
];

describe('lazy results of budgeted handlers (HTTP, a real client on a listening app)', () => {
  let t: TestApp;
  let base: string;
  afterEach(() => t?.app.close());

  async function start() {
    t = await createTestApp({
      imports: [TokencapModule.forRoot({ scopes: fixtureScopes })],
      controllers: [LazyController],
      providers: [openAIProvider(fake)],
    });
    await t.app.listen(0, '127.0.0.1');
    base = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
  }

  const get = (path: string) => readAll(`${base}${path}`, { [SESSION_HEADER]: 'alice' });

  /** Three steps billed and charged, the fourth refused before it was sent, exact events. */
  async function expectRunaway() {
    await fake.server.settled();
    expect(fake.server.tally.requests).toBe(3);
    expect(fake.server.tally.totalTokens).toBe(3 * STEP);
    expect(3 * STEP).toBeLessThanOrEqual(LIMIT);
    expect(eventLog(t.events)).toEqual(runawayEvents(['session']));
  }

  it.each(STREAMED)('a handler returning a %s streams inside its budget', async (shape) => {
    await start();
    const res = await get(`/lazy/shape/${encodeURIComponent(shape)}`);
    expect(res.status).toBe(200);
    // The three steps the budget held were sent; the refused fourth cut the stream.
    for (let i = 1; i <= 3; i++) expect(res.body).toContain(`step ${i}: ${STEP}`);
    expect(res.body).not.toContain('step 4');
    await expectRunaway();
  });

  it('an Observable handler is refused with 429 once its budget is spent (worked before)', async () => {
    await start();
    const res = await get(`/lazy/shape/Observable`);
    expect(res.status).toBe(429);
    expect(JSON.parse(res.body)).toMatchObject({ scope: 'session', limit: LIMIT, used: 3 * STEP });
    await expectRunaway();
  });

  it('an Observable of a StreamableFile streams inside its budget', async () => {
    await start();
    const res = await get('/lazy/observable-of-file');
    expect(res.status).toBe(200);
    expect(res.body).toContain(`step 3: ${STEP}`);
    await expectRunaway();
  });

  it('@Sse() with from(asyncGenerator) stays inside its budget (worked before)', async () => {
    await start();
    const res = await get('/lazy/sse');
    expect(res.body.match(/^data: step \d+/gm)).toEqual([1, 2, 3].map((i) => `data: step ${i}`));
    await expectRunaway();
  });

  it('a PassThrough fed from inside the handler stays inside its budget (worked before)', async () => {
    await start();
    const res = await get('/lazy/pass-through');
    expect(res.body).toContain(`step 3: ${STEP}`);
    await expectRunaway();
  });

  it('a client leaving mid-stream returns the generator inside its budget; all it billed is charged', async () => {
    await start();
    const stream = await openStream(`${base}/lazy/endless`, { [SESSION_HEADER]: 'alice' });
    await stream.until((text) => text.includes('step 1'));
    stream.close();
    const controller = t.get(LazyController);
    await expect.poll(() => controller.finallySaw).toEqual(['session']);
    await fake.server.settled();
    const billed = fake.server.tally.totalTokens;
    expect(billed).toBeGreaterThanOrEqual(STEP);
    const charged = t.events.filter((e) => e.type === 'usage').map((e) => e.used);
    expect(charged.at(-1)).toBe(billed);
  });

  it('plain values and arrays are answered as before', async () => {
    await start();
    const res = await get('/lazy/plain');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual(['a', 'b']);
  });
});
