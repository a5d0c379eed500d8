import type { AddressInfo, Server } from 'node:net';
import { Controller, type ExecutionContext, type INestMicroservice } from '@nestjs/common';
import {
  type ClientProxy,
  ClientProxyFactory,
  Ctx,
  MessagePattern,
  Payload,
  TcpContext,
  Transport,
} from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import OpenAI from 'openai';
import { firstValueFrom, from, type Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Budget } from '../../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../../lib/nest/budget.service.js';
import { TokencapModule } from '../../../lib/nest/tokencap.module.js';
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

interface Message {
  session?: string;
  user?: string;
}

/** What the `user` resolver was handed. */
const seen: { request: unknown; context: ExecutionContext | undefined }[] = [];

@Controller()
class ChatRpc {
  constructor(
    private readonly openai: OpenAI,
    private readonly budgets: BudgetService,
  ) {}

  /** Promise: a runaway loop. */
  @MessagePattern('loop')
  @Budget('session', LIMIT)
  async loop(): Promise<string[]> {
    const out: string[] = [];
    for await (const item of agentSteps(this.openai)) out.push(item);
    return out;
  }

  /** Observable: each step of the loop as one reply, as it is paid. */
  @MessagePattern('stream')
  @Budget('session', LIMIT)
  stream(): Observable<string> {
    return from(agentSteps(this.openai));
  }

  /** Two steps under the message's own `request` budget. */
  @MessagePattern('twoSteps')
  @Budget('request', LIMIT)
  async twoSteps(): Promise<string[]> {
    return [await step(this.openai, 1), await step(this.openai, 2)];
  }

  /** One step under the `user` budget, whose key the resolver reads from the payload. */
  @MessagePattern('userStep')
  @Budget('user', LIMIT)
  userStep(@Payload() _message: Message, @Ctx() _context: TcpContext): Promise<string> {
    return step(this.openai, 1);
  }

  /** A plain value: the budgets open while the handler runs. */
  @MessagePattern('budgets')
  @Budget('task', LIMIT)
  openBudgets(): string[] {
    return this.budgets.openBudgets().map((b) => b.scope);
  }

  @MessagePattern('ping')
  ping(): string {
    return 'pong';
  }
}

describe.each(STORES)(
  '@Budget on microservice handlers (TCP, a ClientProxy on loopback) (%s)',
  (_, makeStore) => {
    let app: INestMicroservice;
    let client: ClientProxy;
    let events: TokencapEvent[];

    beforeEach(async (ctx) => {
      seen.length = 0;
      const store = await makeStore('microservices');
      if (!store) return ctx.skip();
      const moduleRef = await Test.createTestingModule({
        imports: [
          TokencapModule.forRoot({
            store,
            scopes: {
              session: (message: Message | undefined) => message?.session,
              user: (message: Message | undefined, context: ExecutionContext | undefined) => {
                seen.push({ request: message, context });
                return message?.user;
              },
            },
          }),
        ],
        controllers: [ChatRpc],
        providers: [openAIProvider(fake)],
      }).compile();
      app = moduleRef.createNestMicroservice({
        transport: Transport.TCP,
        options: { host: '127.0.0.1', port: 0 },
        logger: false,
      });
      events = [];
      app.get(BudgetService).events$.subscribe((e) => events.push(e));
      await app.listen();
      const { port } = app.unwrap<Server>().address() as AddressInfo;
      client = ClientProxyFactory.create({
        transport: Transport.TCP,
        options: { host: '127.0.0.1', port },
      });
      await client.connect();
    });
    afterEach(async () => {
      await client?.close();
      await app?.close();
    });

    const send = <T>(pattern: string, data: Message = { session: 'alice' }) =>
      firstValueFrom(client.send<T, Message>(pattern, data));

    /** The refusal of the fourth step of a runaway loop, as the client reads it. */
    const refusal = {
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
    };

    it('a Promise handler is refused at the fourth step: the client reads the 429 body', async () => {
      await expect(send('loop')).rejects.toEqual(refusal);
      expect(fake.server.tally).toMatchObject({ requests: 3, totalTokens: 3 * STEP });
      expect(eventLog(events)).toEqual(runawayEvents(['session']));
      // The connection answers the next message.
      expect(await send('ping')).toBe('pong');
    });

    it('an Observable handler sends the three paid steps, then the refusal', async () => {
      const replies: string[] = [];
      const error = await new Promise((resolve, reject) =>
        client.send<string, Message>('stream', { session: 'alice' }).subscribe({
          next: (reply) => replies.push(reply),
          error: resolve,
          complete: () => reject(new Error('completed without a refusal')),
        }),
      );
      expect(error).toEqual(refusal);
      expect(replies).toEqual([1, 2, 3].map((i) => `step ${i}: ${STEP}`));
      expect(fake.server.tally).toMatchObject({ requests: 3, totalTokens: 3 * STEP });
    });

    it('each message has its own `request` budget', async () => {
      for (let i = 0; i < 2; i++) {
        expect(await send('twoSteps')).toEqual([`step 1: ${STEP}`, `step 2: ${STEP}`]);
      }
      const requestKeys = new Set(
        events.flatMap((e) => (e.type === 'usage' && e.scope === 'request' ? [e.key] : [])),
      );
      expect(requestKeys.size).toBe(2);
      expect(fake.server.tally).toMatchObject({ requests: 4, totalTokens: 4 * STEP });
    });

    it('scope resolvers get the payload and the rpc ExecutionContext', async () => {
      expect(await send('userStep', { user: 'u1' })).toBe(`step 1: ${STEP}`);
      expect(seen).toHaveLength(1);
      const [{ request, context }] = seen;
      expect(request).toEqual({ user: 'u1' });
      expect(context?.getType()).toBe('rpc');
      expect(context?.switchToRpc().getContext()).toBeInstanceOf(TcpContext);
      expect(events.filter((e) => e.type === 'usage').map((e) => `${e.scope}:${e.key}`)).toEqual([
        'user:u1',
      ]);
    });

    it('no key in the payload: the client reads the 400 body; the provider never called', async () => {
      await expect(send('userStep', {})).rejects.toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: expect.stringContaining('"user"'),
        scope: 'user',
      });
      expect(fake.server.tally.requests).toBe(0);
    });

    it('a handler opens its budgets once', async () => {
      expect(await send('budgets')).toEqual(['task']);
    });
  },
);
