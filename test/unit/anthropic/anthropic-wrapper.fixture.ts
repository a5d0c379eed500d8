import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { type Budget, type BudgetDefinition, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import {
  wrapAnthropic,
  type WrapAnthropicOptions,
} from '../../../lib/providers/anthropic/wrap-anthropic.js';
import {
  type FakeAnthropicOptions,
  type FakeAnthropicServer,
  startFakeAnthropic,
} from '../../../lib/testing/index.js';
import { countClaudeTokens } from '../../../lib/testing/anthropic/claude-token.counter.js';
import { INPUT_RULES } from '../../../lib/testing/anthropic/prompt.layout.js';

/** A catalog model on the classic tokenizer. */
export const MODEL = 'claude-sonnet-4-5';
export const MESSAGES = [{ role: 'user' as const, content: 'Say hello.' }];

/** Input tokens the fake bills for plain user messages (its documented framing rules). */
export function fakeInput(messages: readonly string[] = ['Say hello.']): number {
  return (
    INPUT_RULES.replyPrimer +
    messages.reduce((sum, m) => sum + INPUT_RULES.perMessage + countClaudeTokens(m, 'claude-3'), 0)
  );
}

export interface Harness {
  server: FakeAnthropicServer;
  ledger: Ledger;
  events: TokencapEvent[];
  /** A new wrapped client on the fake server. */
  client(
    options?: WrapAnthropicOptions,
    clientOptions?: ConstructorParameters<typeof Anthropic>[0],
  ): Anthropic;
  /** A raw (unwrapped) client on the fake server. */
  raw(clientOptions?: ConstructorParameters<typeof Anthropic>[0]): Anthropic;
  within<T>(budgets: Budget | readonly Budget[], fn: () => T): T;
  /** Used and reserved of `budget` in `dimension` (user units). */
  used(
    budget: Budget,
    dimension?: 'tokens' | 'usd' | 'requests',
  ): Promise<{ used: number; reserved: number }>;
}

/** One fake server per file (or per test) and a fresh ledger and event log per test. */
export function useHarness(
  options: FakeAnthropicOptions = {},
  { serverPerTest = false }: { serverPerTest?: boolean } = {},
): Harness {
  let server: FakeAnthropicServer;
  let ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  const events: TokencapEvent[] = [];
  let subscription = ledger.events$.subscribe((e) => events.push(e));
  const start = () => startFakeAnthropic({ keepAlive: false, ...options });

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

  const raw = (clientOptions?: ConstructorParameters<typeof Anthropic>[0]) =>
    new Anthropic({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0, ...clientOptions });

  return {
    get server() {
      return server;
    },
    get ledger() {
      return ledger;
    },
    events,
    client: (options, clientOptions) => wrapAnthropic(raw(clientOptions), options),
    raw,
    within: (budgets, fn) =>
      runWithBudgets(ledger, Array.isArray(budgets) ? budgets : [budgets as Budget], fn),
    used: async (budget, dimension = 'tokens') => {
      const [usage] = await ledger.usage([budget]);
      const d = usage.dimensions[dimension];
      return { used: d?.used ?? 0, reserved: d?.reserved ?? 0 };
    },
  };
}

let budgetSeq = 0;
/** A budget with a unique key. */
export function budget(
  limit: BudgetDefinition['limit'],
  options: Partial<BudgetDefinition> = {},
): Budget {
  return defineBudget({ scope: 'test', key: `a${++budgetSeq}`, limit, ...options });
}

/** Drains a stream into its events; rejects with the error that ended it. */
export async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

/** The `usage` events published for `b`. */
export function usageEvents(events: readonly TokencapEvent[], b: Budget) {
  return events.filter(
    (e): e is Extract<TokencapEvent, { type: 'usage' }> =>
      e.type === 'usage' && e.scope === b.scope && e.key === b.key,
  );
}

/** Total input the fake billed (uncached, cache reads and writes) plus output. */
export function billedTokens(server: FakeAnthropicServer): number {
  const t = server.tally;
  return t.inputTokens + t.cacheReadInputTokens + t.cacheCreationInputTokens + t.outputTokens;
}
