import { Controller, type MessageEvent, Sse } from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { type OpenStream, openStream } from '../fixtures/http-client.fixture.js';

@Controller()
class EventsController {
  constructor(private readonly budgets: BudgetService) {}

  @Sse('events')
  events(): Observable<MessageEvent> {
    return this.budgets.events$.pipe(map((event) => ({ data: event })));
  }

  @Sse('thresholds')
  thresholds(): Observable<MessageEvent> {
    return this.budgets.thresholds$.pipe(map((event) => ({ data: event })));
  }
}

/** Resolves to what `promise` gave, or to 'timed out' after `ms` (a hang, not a slow close). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms))),
  ]);
}

describe('shutdown with clients connected to the module’s streams', () => {
  let t: TestApp | undefined;
  let clients: OpenStream[] = [];
  afterEach(async () => {
    // Whatever the outcome, let a hung close finish.
    for (const client of clients) client.close();
    clients = [];
    await t?.app.close();
    t = undefined;
  });

  it.each(['events', 'thresholds'])(
    'app.close() returns within 2 s while an SSE client holds /%s open, and ends its stream',
    async (path) => {
      t = await createTestApp({
        imports: [TokencapModule.forRoot()],
        controllers: [EventsController],
      });
      await t.app.listen(0, '127.0.0.1');
      const url = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
      const client = await openStream(`${url}/${path}`);
      clients.push(client);
      expect(client.status).toBe(200);
      // An event reaches the client, so the stream is live.
      const budgets = t.get(BudgetService);
      await budgets.run({ scope: 'session', key: 'k', limit: 10, thresholds: [0.5] }, () =>
        budgets.charge(9),
      );
      await client.until((text) => text.includes('"type":"threshold"'));

      const closing = t.app.close();
      expect(await within(closing, 2_000)).toBeUndefined();
      t = undefined;
      expect(await within(client.ended, 2_000)).toBeUndefined();
    },
  );

  it('completes events$ before the HTTP server closes; a subscriber arriving later completes at once', async () => {
    t = await createTestApp({ imports: [TokencapModule.forRoot()] });
    const budgets = t.get(BudgetService);
    const order: string[] = [];
    budgets.events$.subscribe({ complete: () => order.push('events$ completed') });
    t.app.getHttpServer().on('close', () => order.push('server closed'));
    await t.app.listen(0, '127.0.0.1');
    await t.app.close();
    t = undefined;
    expect(order).toEqual(['events$ completed', 'server closed']);
    let late = false;
    budgets.events$.subscribe({ complete: () => (late = true) });
    expect(late).toBe(true);
  });
});
