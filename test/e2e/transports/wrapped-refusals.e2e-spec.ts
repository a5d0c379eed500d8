import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Controller, Post } from '@nestjs/common';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Budget } from '../../../lib/nest/budget.decorator.js';
import { TokencapModule } from '../../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../../fixtures/app.fixture.js';
import { MESSAGES, MODEL, openAIProvider, useFakeOpenAI } from '../../fixtures/openai.fixture.js';
import { postJson } from '../../fixtures/post-json.fixture.js';
import { fixtureScopes, SESSION_HEADER } from '../../fixtures/scopes.fixture.js';

const fake = useFakeOpenAI();
const KEY = 'session-key-that-must-not-leak';
// Two replies of the fake (200 tokens each) fit; the third is refused mid-stream.
const LIMIT = 500;

/**
 * The SDK's stream helper: a refusal reaches the handler as an `OpenAIError` whose `cause` is the
 * `BudgetExceededError`.
 */
async function viaStreamHelper(openai: OpenAI): Promise<string> {
  const stream = openai.chat.completions.stream({ model: MODEL, messages: MESSAGES });
  const completion = await stream.finalChatCompletion();
  return completion.choices[0].message.content ?? '';
}

@Controller()
class ChatController {
  constructor(private readonly openai: OpenAI) {}

  @Post('ask')
  @Budget('session', LIMIT)
  async ask(): Promise<{ length: number }> {
    return { length: (await viaStreamHelper(this.openai)).length };
  }
}

@Resolver()
class ChatResolver {
  constructor(private readonly openai: OpenAI) {}

  @Query(() => String, { nullable: true })
  @Budget('session', LIMIT)
  ask(): Promise<string> {
    return viaStreamHelper(this.openai);
  }
}

describe('a refusal wrapped by an SDK helper (chat.completions.stream().finalChatCompletion())', () => {
  let t: TestApp;
  let url: string;
  beforeEach(async () => {
    t = await createTestApp({
      imports: [
        TokencapModule.forRoot({ scopes: fixtureScopes }),
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true }),
      ],
      controllers: [ChatController],
      providers: [ChatResolver, openAIProvider(fake)],
    });
    await t.app.listen(0, '127.0.0.1');
    url = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterEach(() => t.app.close());

  it('over HTTP: 429 with the budget body, never the key', async () => {
    const replies: { status: number; body: Record<string, unknown> }[] = [];
    for (let i = 0; i < 6; i++) {
      replies.push(await postJson(`${url}/ask`, {}, { [SESSION_HEADER]: KEY }));
    }
    const paid = replies.filter((r) => r.status === 201).length;
    expect(paid).toBeGreaterThan(0);
    expect(replies.slice(0, paid).every((r) => r.status === 201)).toBe(true);
    expect(replies.length - paid).toBeGreaterThan(0);
    for (const refused of replies.slice(paid)) {
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({
        statusCode: 429,
        error: 'Budget Exceeded',
        scope: 'session',
        limit: LIMIT,
      });
      expect(JSON.stringify(refused.body)).not.toContain(KEY);
    }
    expect(paid).toBe(2);
  });

  it('over GraphQL: BUDGET_EXCEEDED, and no error names the key', async () => {
    const replies: {
      data: unknown;
      errors?: { message: string; extensions: Record<string, unknown> }[];
    }[] = [];
    for (let i = 0; i < 6; i++) {
      const reply = await postJson<(typeof replies)[number]>(
        `${url}/graphql`,
        { query: '{ ask }' },
        { [SESSION_HEADER]: KEY },
      );
      replies.push(reply.body);
    }
    const paid = replies.filter((r) => !r.errors).length;
    expect(paid).toBeGreaterThan(0);
    const errors = replies.slice(paid).map((r) => r.errors);
    expect(errors.length).toBeGreaterThan(0);
    for (const list of errors) {
      expect(list).toHaveLength(1);
      expect(list?.[0].extensions).toMatchObject({
        code: 'BUDGET_EXCEEDED',
        statusCode: 429,
        scope: 'session',
        limit: LIMIT,
      });
      expect(JSON.stringify(list)).not.toContain(KEY);
    }
    expect(paid).toBe(2);
  });
});
