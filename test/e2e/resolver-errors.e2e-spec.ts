import { Controller, Injectable, Post } from '@nestjs/common';
import OpenAI from 'openai';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetKeyMissingError } from '../../lib/errors.js';
import { Budget } from '../../lib/nest/budget.decorator.js';
import type { ScopeResolver } from '../../lib/nest/tokencap-options.interface.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { openAIProvider, step, useFakeOpenAI } from '../fixtures/openai.fixture.js';

const fake = useFakeOpenAI();
const SECRET = 'secret-key-value-42';

@Injectable()
class Assistant {
  constructor(private readonly openai: OpenAI) {}

  @Budget('session', 1_000)
  ask(): Promise<string> {
    return step(this.openai, 1);
  }
}

@Controller('ask')
class AskController {
  constructor(
    private readonly openai: OpenAI,
    private readonly assistant: Assistant,
  ) {}

  @Post()
  @Budget('session', 1_000)
  ask() {
    return step(this.openai, 1);
  }

  /** No budget of its own: the service's budget resolves its key from this request. */
  @Post('service')
  service() {
    return this.assistant.ask();
  }
}

// Each resolver's output, or error, carries the secret: none of it may reach the client.
const BAD_RESOLVERS: [string, 'invalid' | 'failed', ScopeResolver][] = [
  ['returns an object', 'invalid', () => ({ id: SECRET }) as never],
  ['returns an array', 'invalid', () => [SECRET] as never],
  ['returns a boolean', 'invalid', () => true as never],
  ['returns a bigint', 'invalid', () => 42n as never],
  ['resolves to an object', 'invalid', async () => ({ id: SECRET }) as never],
  [
    'throws',
    'failed',
    () => {
      throw new Error(`cannot parse ${SECRET}`);
    },
  ],
  ['rejects', 'failed', () => Promise.reject(new Error(`lookup of ${SECRET} failed`))],
];

describe('a scope resolver that fails or returns a non-key (HTTP)', () => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  const start = (session: ScopeResolver, onMissingKey: 'refuse' | 'skip' = 'refuse') =>
    createTestApp({
      imports: [TokencapModule.forRoot({ scopes: { session }, onMissingKey })],
      controllers: [AskController],
      providers: [openAIProvider(fake), Assistant],
    });

  describe.each(['refuse', 'skip'] as const)("onMissingKey '%s'", (onMissingKey) => {
    it.each(BAD_RESOLVERS)(
      'a resolver that %s: 400 naming the scope, never the value or its error; nothing sent',
      async (_, problem, session) => {
        t = await start(session, onMissingKey);
        for (const path of ['/ask', '/ask/service']) {
          const res = await request(t.app.getHttpServer()).post(path).expect(400);
          expect(res.body).toEqual({
            statusCode: 400,
            error: 'Bad Request',
            message: new BudgetKeyMissingError('session', problem).message,
            scope: 'session',
          });
          expect(res.text).not.toContain(SECRET);
        }
        expect(fake.server.requests).toHaveLength(0);
        expect(t.events).toEqual([]);
      },
    );
  });

  it('a provider method outside a request gets the error itself, with the resolver’s as its cause', async () => {
    const cause = new Error('no session outside a request');
    t = await start(() => {
      throw cause;
    });
    const error = await t
      .get(Assistant)
      .ask()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetKeyMissingError);
    expect(error).toMatchObject({ scope: 'session', problem: 'failed', cause });
    expect(fake.server.requests).toHaveLength(0);
  });
});
