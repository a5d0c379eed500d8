import {
  Agent,
  type AgentInputItem,
  ModelBehaviorError,
  OpenAIProvider,
  Runner,
  tool,
} from '@openai/agents';
import { z } from 'zod';
import OpenAI from 'openai';
import OpenAI7 from 'openai7';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent, UsageEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

// The Agents SDK calls `client.responses.create` (plain, or `stream: true` for streamed runs) on
// the OpenAI client its model provider holds: wrapped, every turn is metered like any other call.
// Both majors of `openai`: Tokencap's peer range, and v7, which the Agents SDK itself depends on.
const CLIENTS = [
  ['openai 6', (baseURL: string) => new OpenAI({ apiKey: 'test', baseURL, maxRetries: 0 })],
  ['openai 7', (baseURL: string) => new OpenAI7({ apiKey: 'test', baseURL, maxRetries: 0 })],
] as const;

for (const [version, newClient] of CLIENTS)
  describeOnNode(22, `the OpenAI Agents SDK on a wrapped ${version} client`, () => {
    let server: FakeOpenAIServer;
    let ledger: Ledger;
    let events: TokencapEvent[];
    beforeAll(async () => {
      server = await startFakeOpenAI({ replyTokens: 60, keepAlive: false });
    });
    afterAll(() => server.close());
    afterEach(async () => {
      await server.settled();
      server.reset();
    });

    function runner(): Runner {
      ledger = new Ledger();
      events = [];
      ledger.events$.subscribe((e) => events.push(e));
      // wrapOpenAI is typed for the `openai` of Tokencap's peer range; a v7 client has the same API.
      const client = wrapOpenAI(newClient(server.baseURL) as OpenAI);
      return new Runner({
        // The Agents SDK types its client as its own copy of `openai`; the wrapped one has its API.
        modelProvider: new OpenAIProvider({ openAIClient: client as never }),
        tracingDisabled: true,
      });
    }
    const agent = new Agent({ name: 'Assistant', instructions: 'Be brief.', model: 'gpt-4o-mini' });
    const usage = () => events.filter((e): e is UsageEvent => e.type === 'usage');

    it('meters a conversation turn after turn, and ends it with BudgetExceededError before the turn that would not fit is sent', async () => {
      const run = runner();
      const limit = 600;
      const session = [defineBudget({ scope: 'session', key: 'chat', limit })];
      let history: AgentInputItem[] = [];
      let error: unknown;
      let turns = 0;
      for (; turns < 20; turns++) {
        try {
          const result = await runWithBudgets(ledger, session, () =>
            run.run(agent, [...history, { role: 'user', content: `Question ${turns}?` }]),
          );
          history = result.history;
        } catch (e) {
          error = e;
          break;
        }
      }
      // The caller sees Tokencap's own error, unwrapped, with what it needs to answer the user.
      expect(error).toBeInstanceOf(BudgetExceededError);
      expect(error).toMatchObject({ scope: 'session', key: 'chat', limit, policy: 'hard-stop' });
      expect((error as Error).message).toMatch(
        /^Budget "session" \(key "chat"\) exceeded: the call needs \d+ tokens/,
      );
      // Every turn that ran was sent and charged as billed; the refused one never reached OpenAI.
      expect(turns).toBeGreaterThan(1);
      expect(server.requests).toHaveLength(turns);
      const billed = server.tally.promptTokens + server.tally.completionTokens;
      expect(billed).toBeLessThanOrEqual(limit);
      expect(usage()).toHaveLength(turns);
      expect(
        usage().every((e) => e.details?.model === 'gpt-4o-mini' && e.details.source === 'provider'),
      ).toBe(true);
      const [now] = await ledger.usage(session);
      expect(now).toMatchObject({ used: billed, reserved: 0 });
      expect(events.filter((e) => e.type === 'refused')).toEqual([
        expect.objectContaining({ scope: 'session', used: billed, reserved: 0 }),
      ]);
    });

    it('stops a runaway tool loop inside one run: every turn metered, the turn that would not fit refused', async () => {
      const run = runner();
      let searches = 0;
      const researcher = new Agent({
        name: 'Researcher',
        instructions: 'Search until you are sure.',
        model: 'gpt-4o-mini',
        // Forced to call its tool every turn (the SDK's reset to 'auto' after a call is off): only
        // maxTurns or the budget ends the run.
        modelSettings: { toolChoice: 'required' },
        resetToolChoice: false,
        tools: [
          tool({
            name: 'search',
            description: 'Searches the web.',
            parameters: z.object({ query: z.string() }),
            execute: async ({ query }) => {
              searches++;
              return `Nothing conclusive about ${query} yet.`;
            },
          }),
        ],
      });
      const limit = 4_000;
      const task = [defineBudget({ scope: 'task', key: 'research', limit })];
      const error = await runWithBudgets(ledger, task, () =>
        run.run(researcher, 'Find the answer.', { maxTurns: 200 }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BudgetExceededError);
      expect(error).toMatchObject({ scope: 'task', key: 'research', limit });
      await server.settled();
      const billed = server.tally.promptTokens + server.tally.completionTokens;
      expect(billed).toBeLessThanOrEqual(limit);
      expect(server.tally.requests).toBeGreaterThan(3);
      expect(server.requests).toHaveLength(server.tally.requests);
      expect(searches).toBe(server.tally.requests);
      expect(usage()).toHaveLength(server.tally.requests);
      const [now] = await ledger.usage(task);
      expect(now).toMatchObject({ used: billed, reserved: 0 });
    });

    it('refuses a streamed run that cannot fit with BudgetExceededError, and sends nothing', async () => {
      const run = runner();
      const session = [defineBudget({ scope: 'session', key: 'tiny', limit: 10 })];
      const error = await runWithBudgets(ledger, session, async () => {
        const result = await run.run(agent, 'Tell me a long story about the sea.', {
          stream: true,
        });
        for await (const event of result) void event;
        await result.completed;
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BudgetExceededError);
      expect(error).toMatchObject({ scope: 'session', key: 'tiny', limit: 10, used: 0 });
      expect(server.requests).toHaveLength(0);
    });

    for (const stream of [false, true]) {
      it(`caps a ${stream ? 'streamed' : 'plain'} run at what the budget has left: the SDK ends it with ModelBehaviorError, OpenAI billed the limit at most`, async () => {
        const run = runner();
        const limit = 40;
        const session = [defineBudget({ scope: 'session', key: `capped-${stream}`, limit })];
        const error = await runWithBudgets(ledger, session, async () => {
          if (!stream) return run.run(agent, 'Tell me a story');
          const result = await run.run(agent, 'Tell me a story', { stream: true });
          for await (const event of result) void event;
          await result.completed;
        }).catch((e: unknown) => e);
        // The budget lowered max_output_tokens; the Agents SDK treats the incomplete response as a
        // model failure (see docs/openai-agents.md).
        expect(error).toBeInstanceOf(ModelBehaviorError);
        expect((error as Error).message).toBe(
          'OpenAI Responses request ended with unsuccessful terminal state "response.incomplete".',
        );
        const sent = server.requests[0].body as { max_output_tokens: number };
        await server.settled();
        const prompt = server.tally.promptTokens;
        expect(sent.max_output_tokens).toBe(limit - prompt);
        expect(server.tally.completionTokens).toBe(limit - prompt);
        const [now] = await ledger.usage(session);
        expect(now).toMatchObject({ used: limit, reserved: 0 });
        expect(usage()).toEqual([
          expect.objectContaining({
            details: expect.objectContaining({ model: 'gpt-4o-mini', source: 'provider' }),
          }),
        ]);
      });
    }
  });
