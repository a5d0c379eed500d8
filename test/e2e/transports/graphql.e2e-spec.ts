import type { IncomingMessage } from 'node:http';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Controller, type ExecutionContext, Post } from '@nestjs/common';
import {
  Field,
  GqlExecutionContext,
  GraphQLModule,
  Int,
  ObjectType,
  Parent,
  Query,
  ResolveField,
  Resolver,
} from '@nestjs/graphql';
import OpenAI from 'openai';
import { from, type Observable, toArray } from 'rxjs';
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
import { postJson } from '../../fixtures/post-json.fixture.js';
import { SESSION_HEADER, USER_HEADER } from '../../fixtures/scopes.fixture.js';

const fake = useFakeOpenAI();

@ObjectType()
class Answer {
  @Field(() => Int)
  n!: number;
}

/** What each scope resolver was handed, to check what GraphQL gives them. */
const seen: { request: unknown; context: ExecutionContext | undefined }[] = [];

@Resolver(() => Answer)
class ChatResolver {
  constructor(
    private readonly openai: OpenAI,
    private readonly budgets: BudgetService,
  ) {}

  /** Promise: one paid step. */
  @Query(() => String, { nullable: true })
  @Budget('session', LIMIT)
  async ask(): Promise<string> {
    return step(this.openai, 1);
  }

  /** Promise: a runaway loop. */
  @Query(() => [String], { nullable: true })
  @Budget('session', LIMIT)
  async loop(): Promise<string[]> {
    const out: string[] = [];
    for await (const item of agentSteps(this.openai)) out.push(item);
    return out;
  }

  /** Observable: the loop, collected. */
  @Query(() => [String], { nullable: true })
  @Budget('session', LIMIT)
  loopObservable(): Observable<string[]> {
    return from(agentSteps(this.openai)).pipe(toArray());
  }

  /** One step per operation under the operation's own `request` budget. */
  @Query(() => String, { nullable: true })
  @Budget('request', LIMIT)
  perOperation(): Promise<string> {
    return step(this.openai, 1);
  }

  /** A request Tokencap cannot meter as sent (a fractional cap): refused before the provider. */
  @Query(() => String, { nullable: true })
  @Budget('session', LIMIT)
  async badRequest(): Promise<string> {
    const completion = await this.openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      max_completion_tokens: 2.5,
    });
    return completion.id;
  }

  /** A plain value: the paid work is in its field resolvers. */
  @Query(() => Answer, { nullable: true })
  @Budget('session', LIMIT)
  answer(): Answer {
    return { n: 1 };
  }

  /** A list of plain values: the paid work is in each item's field resolvers. */
  @Query(() => [Answer], { nullable: true })
  @Budget('session', LIMIT)
  answers(): Answer[] {
    return [1, 2, 3, 4].map((n) => ({ n }));
  }

  /** A plain value under no budget. */
  @Query(() => Answer, { nullable: true })
  free(): Answer {
    return { n: 2 };
  }

  /** No `@Budget`: spends inside the budgets of the resolver that produced its parent. */
  @ResolveField(() => String, { nullable: true })
  followUp(@Parent() parent: Answer): Promise<string> {
    return step(this.openai, parent.n);
  }

  /** Its own budget, opened beneath the parent's. */
  @ResolveField(() => [String], { nullable: true })
  @Budget('user', LIMIT)
  budgetsSeen(): string[] {
    return this.budgets.openBudgets().map((b) => `${b.scope}:${b.key}`);
  }

  /** Keys from the GraphQL arguments, through the `tenant` resolver. */
  @Query(() => String, { nullable: true })
  @Budget('tenant', LIMIT)
  tenantStep(): Promise<string> {
    return step(this.openai, 1);
  }
}

/** The same paid step over REST, so the headers writer is seen to be on in the same app. */
@Controller('rest')
class RestController {
  constructor(private readonly openai: OpenAI) {}

  @Post('ask')
  @Budget('session', LIMIT)
  async ask(): Promise<{ reply: string }> {
    return { reply: await step(this.openai, 1) };
  }
}

interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions: Record<string, unknown>;
}
interface GqlReply {
  data: Record<string, unknown> | null;
  errors?: GqlError[];
}

describe.each(STORES)(
  '@Budget on GraphQL resolvers (Apollo, code first, over real HTTP) (%s)',
  (_, makeStore) => {
    let t: TestApp;
    let url: string;

    beforeEach(async (ctx) => {
      seen.length = 0;
      const store = await makeStore('graphql');
      if (!store) return ctx.skip();
      t = await createTestApp({
        imports: [
          TokencapModule.forRoot({
            store,
            scopes: {
              session: (req: IncomingMessage | undefined) => req?.headers[SESSION_HEADER] as string,
              user: (req: IncomingMessage | undefined) => req?.headers[USER_HEADER] as string,
              tenant: (request: unknown, context: ExecutionContext | undefined) => {
                seen.push({ request, context });
                return GqlExecutionContext.create(context!).getInfo<{
                  operation: { name?: { value: string } };
                }>().operation.name?.value;
              },
            },
          }),
          GraphQLModule.forRoot<ApolloDriverConfig>({
            driver: ApolloDriver,
            autoSchemaFile: true,
            fieldResolverEnhancers: ['interceptors'],
          }),
        ],
        controllers: [RestController],
        providers: [ChatResolver, openAIProvider(fake)],
      });
      await t.app.listen(0, '127.0.0.1');
      url = `${(await t.app.getUrl()).replace('[::1]', '127.0.0.1')}/graphql`;
    });
    afterEach(() => t?.app.close());

    const gql = async (
      query: string,
      headers: Record<string, string> = { [SESSION_HEADER]: 'alice' },
    ) => {
      const reply = await postJson<GqlReply>(url, { query }, headers);
      expect(reply.status).toBe(200);
      return reply.body;
    };

    /** The refusal of the fourth step of a runaway loop, as the client reads it. */
    const refusal = (path: (string | number)[]) => ({
      locations: [expect.any(Object)],
      message: expect.stringMatching(
        /^Budget "session" exceeded: the call needs \d+ tokens, 5 of \d+ tokens remain\.$/,
      ),
      path,
      extensions: expect.objectContaining({
        code: 'BUDGET_EXCEEDED',
        statusCode: 429,
        error: 'Budget Exceeded',
        message: expect.stringContaining('Budget "session" exceeded'),
        scope: 'session',
        limit: LIMIT,
        used: 3 * STEP,
      }),
    });

    it.each(['loop', 'loopObservable'])(
      'a %s resolver (Promise, Observable) is refused at the fourth step; the provider billed three',
      async (field) => {
        const reply = await gql(`{ ${field} }`);
        expect(reply.data).toEqual({ [field]: null });
        expect(reply.errors).toEqual([refusal([field])]);
        expect(JSON.stringify(reply)).not.toContain('alice');
        expect(fake.server.tally).toMatchObject({ requests: 3, totalTokens: 3 * STEP });
        expect(eventLog(t.events)).toEqual(runawayEvents(['session']));
      },
    );

    it('the RateLimit headers (on by default) leave GraphQL alone: a budgeted query is answered, and no RateLimit field or Retry-After is sent', async () => {
      const rest = await postJson<{ reply: string }>(
        `${url.replace(/\/graphql$/, '')}/rest/ask`,
        {},
        {
          [SESSION_HEADER]: 'bob',
        },
      );
      // The writer is on in this app: a REST handler with the same budget gets its fields.
      expect(rest.status).toBe(201);
      expect(rest.body).toEqual({ reply: `step 1: ${STEP}` });
      expect(rest.headers['ratelimit-policy']).toBe(`"session";q=${LIMIT}`);
      expect(rest.headers['ratelimit']).toBe(`"session";r=${LIMIT - STEP}`);

      const ok = await postJson<GqlReply>(url, { query: '{ ask }' }, { [SESSION_HEADER]: 'alice' });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ data: { ask: `step 1: ${STEP}` } });
      const refused = await postJson<GqlReply>(
        url,
        { query: '{ loop }' },
        { [SESSION_HEADER]: 'alice' },
      );
      expect(refused.status).toBe(200);
      expect(refused.body.data).toEqual({ loop: null });
      expect(refused.body.errors).toEqual([
        expect.objectContaining({
          path: ['loop'],
          extensions: expect.objectContaining({ code: 'BUDGET_EXCEEDED', statusCode: 429 }),
        }),
      ]);
      for (const { headers } of [ok, refused]) {
        expect(Object.keys(headers).filter((h) => /^(ratelimit|retry-after)/.test(h))).toEqual([]);
      }
      // bob's REST step, alice's `ask`, then two loop steps before the refusal.
      expect(fake.server.tally).toMatchObject({ requests: 4, totalTokens: 4 * STEP });
    });

    it('field resolvers spend inside the budgets of the resolver that produced their parent', async () => {
      const reply = await gql(
        '{ a: answer { followUp } b: answer { followUp } c: answer { followUp } d: answer { followUp } }',
      );
      expect(reply.data).toEqual({
        a: { followUp: `step 1: ${STEP}` },
        b: { followUp: `step 1: ${STEP}` },
        c: { followUp: `step 1: ${STEP}` },
        d: { followUp: null },
      });
      expect(reply.errors).toEqual([
        expect.objectContaining({
          path: ['d', 'followUp'],
          // The four run at once, so the first three may still be reserved rather than used.
          message: expect.stringContaining(`5 of ${LIMIT} tokens remain`),
          extensions: expect.objectContaining({ code: 'BUDGET_EXCEEDED', scope: 'session' }),
        }),
      ]);
      expect(fake.server.tally).toMatchObject({ requests: 3, totalTokens: 3 * STEP });
      expect(eventLog(t.events).filter((e) => e.startsWith('usage'))).toEqual([
        `usage:session:${STEP}`,
        `usage:session:${2 * STEP}`,
        `usage:session:${3 * STEP}`,
      ]);
    });

    it('field resolvers of list items spend inside the budgets of the list', async () => {
      const reply = await gql('{ answers { n followUp } }');
      expect(reply.data).toEqual({
        answers: [1, 2, 3]
          .map((n) => ({ n, followUp: `step ${n}: ${STEP}` }))
          .concat({
            n: 4,
            followUp: null as unknown as string,
          }),
      });
      expect(reply.errors).toEqual([
        expect.objectContaining({
          path: ['answers', 3, 'followUp'],
          extensions: expect.objectContaining({ code: 'BUDGET_EXCEEDED', scope: 'session' }),
        }),
      ]);
      expect(fake.server.tally).toMatchObject({ requests: 3, totalTokens: 3 * STEP });
    });

    it("a field resolver under an unbudgeted parent is unbudgeted; with its own @Budget it opens it beneath the parent's", async () => {
      const reply = await gql('{ free { followUp budgetsSeen } answer { budgetsSeen } }', {
        [SESSION_HEADER]: 'alice',
        [USER_HEADER]: 'u1',
      });
      expect(reply.errors).toBeUndefined();
      expect(reply.data).toEqual({
        free: { followUp: `step 2: ${STEP}`, budgetsSeen: ['user:u1'] },
        answer: { budgetsSeen: ['session:alice', 'user:u1'] },
      });
      expect(t.events).toEqual([]);
      expect(fake.server.tally).toMatchObject({ requests: 1, totalTokens: STEP });
    });

    it('each operation has its own `request` budget, shared by every field of it', async () => {
      const four = '{ a: perOperation b: perOperation c: perOperation d: perOperation }';
      for (let operation = 1; operation <= 2; operation++) {
        const reply = await gql(four);
        const values = Object.values(reply.data ?? {});
        expect(values.filter((v) => v === `step 1: ${STEP}`)).toHaveLength(3);
        expect(values.filter((v) => v === null)).toHaveLength(1);
        expect(reply.errors?.map((e) => [e.extensions.code, e.extensions.scope])).toEqual([
          ['BUDGET_EXCEEDED', 'request'],
        ]);
      }
      expect(fake.server.tally).toMatchObject({ requests: 6, totalTokens: 6 * STEP });
      const keys = new Set(t.events.flatMap((e) => ('key' in e ? [e.key] : [])));
      expect(keys.size).toBe(2);
    });

    it('scope resolvers get the HTTP request from the GraphQL context and the GraphQL ExecutionContext', async () => {
      const reply = await gql('query acme { a: tenantStep b: tenantStep }');
      expect(reply.errors).toBeUndefined();
      // Resolved once per operation, however many fields need the key.
      expect(seen).toHaveLength(1);
      const [{ request, context }] = seen;
      expect((request as IncomingMessage).headers[SESSION_HEADER]).toBe('alice');
      expect(context?.getType()).toBe('graphql');
      expect(GqlExecutionContext.create(context!).getContext<{ req: unknown }>().req).toBe(request);
      expect(t.events.filter((e) => e.type === 'usage').map((e) => `${e.scope}:${e.key}`)).toEqual([
        'tenant:acme',
        'tenant:acme',
      ]);
    });

    it('no key: a BUDGET_KEY_MISSING error with the 400 body, and the provider never called', async () => {
      const reply = await gql('{ ask }', {});
      expect(reply.data).toEqual({ ask: null });
      expect(reply.errors).toEqual([
        expect.objectContaining({
          path: ['ask'],
          extensions: expect.objectContaining({
            code: 'BUDGET_KEY_MISSING',
            statusCode: 400,
            error: 'Bad Request',
            scope: 'session',
          }),
        }),
      ]);
      expect(fake.server.tally.requests).toBe(0);
    });

    it('a refused LLM request: an LLM_REQUEST_INVALID error with the 400 body naming the parameter, not BUDGET_KEY_MISSING', async () => {
      const reply = await gql('{ badRequest }');
      expect(reply.data).toEqual({ badRequest: null });
      expect(reply.errors).toEqual([
        expect.objectContaining({
          path: ['badRequest'],
          extensions: expect.objectContaining({
            code: 'LLM_REQUEST_INVALID',
            statusCode: 400,
            error: 'Bad Request',
            parameter: 'max_completion_tokens',
          }),
        }),
      ]);
      expect(fake.server.tally.requests).toBe(0);
    });
  },
);

describe('GraphQL field resolvers without fieldResolverEnhancers (Nest does not intercept them)', () => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  it('one without @Budget spends outside any budget; one with @Budget is refused: no key outside the operation', async () => {
    t = await createTestApp({
      imports: [
        TokencapModule.forRoot({
          scopes: {
            session: (req: IncomingMessage | undefined) => req?.headers[SESSION_HEADER] as string,
            user: (req: IncomingMessage | undefined) => req?.headers[USER_HEADER] as string,
            tenant: () => 'acme',
          },
        }),
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true }),
      ],
      providers: [ChatResolver, openAIProvider(fake)],
    });
    await t.app.listen(0, '127.0.0.1');
    const url = `${(await t.app.getUrl()).replace('[::1]', '127.0.0.1')}/graphql`;
    const { body } = await postJson<GqlReply>(
      url,
      { query: '{ answer { followUp budgetsSeen } }' },
      { [SESSION_HEADER]: 'alice', [USER_HEADER]: 'u1' },
    );
    expect(body.data).toEqual({ answer: { followUp: `step 1: ${STEP}`, budgetsSeen: null } });
    expect(body.errors).toEqual([
      expect.objectContaining({
        path: ['answer', 'budgetsSeen'],
        message: expect.stringContaining('"user"'),
        extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR' }),
      }),
    ]);
    // The provider was paid for followUp, and no budget was charged.
    expect(fake.server.tally.requests).toBe(1);
    expect(t.events).toEqual([]);
  });
});
