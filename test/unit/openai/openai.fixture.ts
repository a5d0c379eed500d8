import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { type Budget, type BudgetDefinition, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { countChatTokens } from '../../../lib/counting/index.js';
import { wrapOpenAI, type WrapOpenAIOptions } from '../../../lib/providers/openai/wrap-openai.js';
import {
  type FakeOpenAIOptions,
  type FakeOpenAIServer,
  startFakeOpenAI,
} from '../../../lib/testing/index.js';

export const MODEL = 'gpt-4o';
export const MESSAGES = [{ role: 'user' as const, content: 'Say hello.' }];

/** Prompt tokens of {@link MESSAGES}, by the same rules the fake server bills. */
export function promptOf(messages = MESSAGES, model = MODEL): number {
  return countChatTokens({ model, messages } as Parameters<typeof countChatTokens>[0]);
}

export interface Harness {
  server: FakeOpenAIServer;
  ledger: Ledger;
  events: TokencapEvent[];
  /** A new wrapped client on the fake server. */
  client(
    options?: WrapOpenAIOptions,
    clientOptions?: ConstructorParameters<typeof OpenAI>[0],
  ): OpenAI;
  /** A raw (unwrapped) client on the fake server. */
  raw(clientOptions?: ConstructorParameters<typeof OpenAI>[0]): OpenAI;
  /** Runs `fn` with `budgets` open on the harness ledger. */
  within<T>(budgets: Budget | readonly Budget[], fn: () => T): T;
  /** Used and reserved tokens of `budget`. */
  tokens(budget: Budget): Promise<{ used: number; reserved: number }>;
}

/**
 * Starts one fake server for the file and a fresh ledger (and event log) per test.
 * Call at the top of a `describe` or file.
 */
export function useHarness(
  options: FakeOpenAIOptions = {},
  { serverPerTest = false }: { serverPerTest?: boolean } = {},
): Harness {
  let server: FakeOpenAIServer;
  let ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  const events: TokencapEvent[] = [];
  let subscription = ledger.events$.subscribe((e) => events.push(e));
  // No pooled socket may outlive a test: an aborted request on a reused keep-alive socket has
  // been seen (rarely, under load) to make the HTTP client resend the next test's request.
  const start = () => startFakeOpenAI({ keepAlive: false, ...options });

  // Tests that abort requests can take a server of their own, so nothing a previous test left in
  // flight can reach their tally.
  (serverPerTest ? beforeEach : beforeAll)(async () => {
    server = await start();
  });
  (serverPerTest ? afterEach : afterAll)(async () => {
    await server.close();
  });
  afterEach(async () => {
    await server.settled();
    server.reset();
    subscription.unsubscribe();
    await ledger.close();
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    events.length = 0;
    subscription = ledger.events$.subscribe((e) => events.push(e));
  });

  const raw = (clientOptions?: ConstructorParameters<typeof OpenAI>[0]) =>
    new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0, ...clientOptions });

  return {
    get server() {
      return server;
    },
    get ledger() {
      return ledger;
    },
    events,
    client: (options, clientOptions) => wrapOpenAI(raw(clientOptions), options),
    raw,
    within: (budgets, fn) =>
      runWithBudgets(ledger, Array.isArray(budgets) ? budgets : [budgets as Budget], fn),
    tokens: async (budget) => {
      const [usage] = await ledger.usage([budget]);
      return {
        used: usage.dimensions.tokens?.used ?? 0,
        reserved: usage.dimensions.tokens?.reserved ?? 0,
      };
    },
  };
}

let budgetSeq = 0;
/** A budget with a unique key, so tests never share ledgers. */
export function budget(
  limit: BudgetDefinition['limit'],
  options: Partial<BudgetDefinition> = {},
): Budget {
  return defineBudget({ scope: 'test', key: `k${++budgetSeq}`, limit, ...options });
}

/** Drains a stream into its chunks; rejects with the error that ended it. */
export async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

/** Text content of chat chunks. */
export function chatText(chunks: readonly OpenAI.ChatCompletionChunk[]): string {
  return chunks.map((c) => c.choices.map((ch) => ch.delta?.content ?? '').join('')).join('');
}

/** The `usage` events published for `budget`. */
export function usageEvents(events: readonly TokencapEvent[], b: Budget) {
  return events.filter(
    (e): e is Extract<TokencapEvent, { type: 'usage' }> =>
      e.type === 'usage' && e.scope === b.scope && e.key === b.key,
  );
}
