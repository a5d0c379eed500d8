import type { ExecutionContext } from '@nestjs/common';
import {
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  type WsResponse,
} from '@nestjs/websockets';
import OpenAI from 'openai';
import { from, map, type Observable } from 'rxjs';
import type { Socket } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Budget } from '../../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../../lib/nest/budget.service.js';
import { TokencapModule } from '../../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../../fixtures/app.fixture.js';
import {
  agentSteps,
  eventLog,
  LIMIT,
  openAIProvider,
  runawayEvents,
  STEP,
  step,
  useFakeOpenAI,
} from '../../fixtures/openai.fixture.js';
import { STORES } from '../../fixtures/stores.fixture.js';

const fake = useFakeOpenAI();

/** What the `user` resolver was handed. */
const seen: { request: unknown; context: ExecutionContext | undefined }[] = [];

@WebSocketGateway()
class ChatGateway {
  constructor(
    private readonly openai: OpenAI,
    private readonly budgets: BudgetService,
  ) {}

  /** Promise: a runaway loop, answered (acknowledged) with its steps. */
  @SubscribeMessage('loop')
  @Budget('session', LIMIT)
  async loop(): Promise<string[]> {
    const out: string[] = [];
    for await (const item of agentSteps(this.openai)) out.push(item);
    return out;
  }

  /** Observable: each step of the loop as a `step` event, as it is paid. */
  @SubscribeMessage('stream')
  @Budget('session', LIMIT)
  stream(): Observable<WsResponse<string>> {
    return from(agentSteps(this.openai)).pipe(map((data) => ({ event: 'step', data })));
  }

  /** Two steps under the message's own `request` budget. */
  @SubscribeMessage('twoSteps')
  @Budget('request', LIMIT)
  async twoSteps(): Promise<string[]> {
    return [await step(this.openai, 1), await step(this.openai, 2)];
  }

  /** Two steps under the shared `session` budget. */
  @SubscribeMessage('twoSessionSteps')
  @Budget('session', LIMIT)
  async twoSessionSteps(): Promise<string[]> {
    return [await step(this.openai, 1), await step(this.openai, 2)];
  }

  /** One step under the `user` budget, whose key is in the message. */
  @SubscribeMessage('userStep')
  @Budget('user', LIMIT)
  userStep(@MessageBody() _body: { user?: string }): Promise<string> {
    return step(this.openai, 1);
  }

  /** A plain value: the budgets open while the handler runs. */
  @SubscribeMessage('budgets')
  @Budget('task', LIMIT)
  openBudgets(): string[] {
    return this.budgets.openBudgets().map((b) => b.scope);
  }

  @SubscribeMessage('ping')
  ping(): string {
    return 'pong';
  }
}

interface WsException {
  status: string;
  statusCode: number;
  error: string;
  message: string;
  scope: string;
  limit?: number;
  used?: number;
  cause: { pattern: string; data?: unknown };
}

describe.each(STORES)(
  '@Budget on WebSocket gateways (socket.io, a real client on loopback) (%s)',
  (_, makeStore) => {
    let t: TestApp;
    let url: string;
    const clients: ClientSocket[] = [];

    beforeEach(async (ctx) => {
      seen.length = 0;
      const store = await makeStore('websockets');
      if (!store) return ctx.skip();
      t = await createTestApp({
        imports: [
          TokencapModule.forRoot({
            store,
            scopes: {
              session: (socket: Socket | undefined) =>
                (socket?.handshake.auth as { session?: string } | undefined)?.session,
              user: (request: unknown, context: ExecutionContext | undefined) => {
                seen.push({ request, context });
                return context?.switchToWs().getData<{ user?: string } | undefined>()?.user;
              },
            },
          }),
        ],
        providers: [ChatGateway, openAIProvider(fake)],
      });
      await t.app.listen(0, '127.0.0.1');
      url = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
    });
    afterEach(async () => {
      for (const client of clients.splice(0)) client.disconnect();
      await t?.app.close();
    });

    async function connect(session = 'alice'): Promise<ClientSocket> {
      const client = io(url, { auth: { session }, transports: ['websocket'], reconnection: false });
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('connect_error', reject);
      });
      return client;
    }

    const nextException = (client: ClientSocket) =>
      new Promise<WsException>((resolve) => client.once('exception', resolve));

    /** The refusal of the fourth step of a runaway loop, as the client reads it. */
    const refusal = (pattern: string) => ({
      status: 'error',
      statusCode: 429,
      error: 'Budget Exceeded',
      message: expect.stringMatching(
        new RegExp(
          `^Budget "session" exceeded: the call needs \\d+ tokens, 5 of ${LIMIT} tokens remain\\.$`,
        ),
      ),
      scope: 'session',
      limit: LIMIT,
      used: 3 * STEP,
      // The message had no data (undefined does not survive JSON).
      cause: { pattern },
    });

    it('a Promise handler is refused at the fourth step: an exception event, and the connection stays up', async () => {
      const client = await connect();
      const exception = nextException(client);
      client.emit('loop');
      expect(await exception).toEqual(refusal('loop'));
      expect(fake.server.tally).toMatchObject({ requests: 3, totalTokens: 3 * STEP });
      expect(eventLog(t.events)).toEqual(runawayEvents(['session']));
      // The same connection answers the next message.
      const id = client.id;
      expect(await client.emitWithAck('ping')).toBe('pong');
      expect(client.connected).toBe(true);
      expect(client.id).toBe(id);
    });

    it('an Observable handler emits the three paid steps, then the refusal', async () => {
      const client = await connect();
      const steps: string[] = [];
      client.on('step', (s: string) => steps.push(s));
      const exception = nextException(client);
      client.emit('stream');
      expect(await exception).toEqual(refusal('stream'));
      expect(steps).toEqual([1, 2, 3].map((i) => `step ${i}: ${STEP}`));
      expect(fake.server.tally).toMatchObject({ requests: 3, totalTokens: 3 * STEP });
    });

    it('each message has its own `request` budget; a shared `session` key carries over', async () => {
      const client = await connect();
      // Two messages of two steps: four steps, more than one `request` budget holds.
      for (let i = 0; i < 2; i++) {
        expect(await client.emitWithAck('twoSteps')).toEqual([
          `step 1: ${STEP}`,
          `step 2: ${STEP}`,
        ]);
      }
      const requestKeys = new Set(
        t.events.flatMap((e) => (e.type === 'usage' && e.scope === 'request' ? [e.key] : [])),
      );
      expect(requestKeys.size).toBe(2);
      // The session is shared by every message of every socket with its key.
      expect(await client.emitWithAck('twoSessionSteps')).toEqual([
        `step 1: ${STEP}`,
        `step 2: ${STEP}`,
      ]);
      const other = await connect('alice');
      const exception = nextException(other);
      other.emit('twoSessionSteps');
      expect(await exception).toMatchObject({ statusCode: 429, scope: 'session', used: 3 * STEP });
      expect(fake.server.tally).toMatchObject({ requests: 7, totalTokens: 7 * STEP });
    });

    it('scope resolvers get the socket and the ws ExecutionContext; keys may come from the message', async () => {
      const client = await connect();
      expect(await client.emitWithAck('userStep', { user: 'u1' })).toBe(`step 1: ${STEP}`);
      expect(seen).toHaveLength(1);
      const [{ request, context }] = seen;
      expect((request as Socket).handshake.auth).toEqual({ session: 'alice' });
      expect(context?.getType()).toBe('ws');
      expect(t.events.filter((e) => e.type === 'usage').map((e) => `${e.scope}:${e.key}`)).toEqual([
        'user:u1',
      ]);
    });

    it('no key in the message: an exception event with the 400 body; the provider never called', async () => {
      const client = await connect();
      const exception = nextException(client);
      // The data may hold a key (another scope's): the event does not echo it.
      client.emit('userStep', { note: 'no user', session: 'secret-key-1' });
      expect(await exception).toEqual({
        status: 'error',
        statusCode: 400,
        error: 'Bad Request',
        message: expect.stringContaining('"user"'),
        scope: 'user',
        cause: { pattern: 'userStep' },
      });
      expect(fake.server.tally.requests).toBe(0);
      expect(await client.emitWithAck('ping')).toBe('pong');
    });

    it('a handler opens its budgets once (gateways are providers: no second `task` budget)', async () => {
      const client = await connect();
      expect(await client.emitWithAck('budgets')).toEqual(['task']);
    });
  },
);
