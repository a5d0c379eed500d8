import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { countResponsesInput } from '../../lib/counting/index.js';
import { BudgetExceededError } from '../../lib/errors.js';
import type { FailOptions, FakeFault } from '../../lib/testing/index.js';
import {
  budget,
  drain,
  MESSAGES,
  MODEL,
  promptOf,
  useHarness,
} from '../unit/openai/openai.fixture.js';
import { type Figures, printFigures } from './support/figures.js';

// Provider faults from the fake server, through the real `openai` SDK wrapped by Tokencap. Each row
// says what the caller sees, what is charged to the budget, what the fake billed, and checks that
// the reservation does not outlive the call. Single cases already covered elsewhere:
// test/unit/openai/failures.spec.ts (500, 429 on a stream, timeout, reset before a response,
// missing/malformed/over-reported usage on a plain call) and streams.spec.ts (cut stream, stream
// without usage). This table runs them side by side with the retry, Responses, usage-shape and
// unreadable-body cases those files do not have, and compares every charge with the fake's bill.

const REPLY = 25; // visible tokens of every reply
const CAP = 100; // max output tokens of every request: each call reserves prompt + 100
const CHAT_PROMPT = promptOf();
const RESPONSES_INPUT = 'Say hello.';
const RESPONSES_PROMPT = countResponsesInput({ model: MODEL, input: RESPONSES_INPUT });

interface Row {
  name: string;
  endpoint?: 'chat' | 'responses';
  stream?: boolean;
  faults?: readonly (readonly [FakeFault, FailOptions?])[];
  client?: ConstructorParameters<typeof OpenAI>[0];
  /** Token limit of the hard-stop budget. @default 10_000 */
  limit?: number;
  /** `'ok'`, or the name of the error class the caller gets. */
  sees: string;
  /** Tokens committed to the budget, from the prompt P of the call. */
  charged: (p: number) => number;
  /** Tokens the fake billed. */
  billed: (p: number) => number;
  /** HTTP requests the SDK sent. @default 1 */
  requests?: number;
}

/** Returns the body of every response as a truncated JSON text, so the SDK cannot parse it. */
const mangling: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const text = await response.text();
  return new Response(text.slice(0, 20), {
    status: response.status,
    headers: { 'content-type': 'application/json' },
  });
};

const fast = { 'retry-after-ms': '1' };
const rows: Row[] = [
  {
    name: 'HTTP 429',
    faults: [[{ kind: 'error', status: 429, headers: fast }]],
    sees: 'RateLimitError',
    charged: () => 0,
    billed: () => 0,
  },
  {
    name: 'HTTP 500',
    faults: [[{ kind: 'error', status: 500 }]],
    sees: 'InternalServerError',
    charged: () => 0,
    billed: () => 0,
  },
  {
    name: 'HTTP 429 on a stream',
    stream: true,
    faults: [[{ kind: 'error', status: 429, headers: fast }]],
    sees: 'RateLimitError',
    charged: () => 0,
    billed: () => 0,
  },
  {
    name: 'HTTP 500, then 200 on the SDK retry (maxRetries 2)',
    faults: [[{ kind: 'error', status: 500, headers: fast }]],
    client: { maxRetries: 2 },
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
    requests: 2,
  },
  {
    name: 'HTTP 429 on all 3 attempts (maxRetries 2)',
    faults: [[{ kind: 'error', status: 429, headers: fast }, { times: 3 }]],
    client: { maxRetries: 2 },
    sees: 'RateLimitError',
    charged: () => 0,
    billed: () => 0,
    requests: 3,
  },
  {
    name: 'timeout before the first byte',
    faults: [[{ kind: 'delay', ms: 1_000 }]],
    client: { timeout: 50 },
    sees: 'APIConnectionTimeoutError',
    // It may have reached the provider and run to its end: charged what it reserved.
    charged: (p) => p + CAP,
    billed: () => 0,
  },
  {
    name: 'timeout before the first byte of a stream',
    stream: true,
    faults: [[{ kind: 'delay', ms: 1_000 }]],
    client: { timeout: 50 },
    sees: 'APIConnectionTimeoutError',
    // The provider stops a stream whose client has gone: charged the prompt, never 0.
    charged: (p) => p,
    billed: () => 0,
  },
  {
    name: 'connection reset before the response',
    faults: [[{ kind: 'cut-stream', afterChunks: 0 }]],
    sees: 'APIConnectionError',
    // The request may have reached the provider, which runs it to its end: fail closed.
    charged: (p) => p + CAP,
    billed: () => 0,
  },
  {
    name: 'connection reset mid-stream (after 7 chunks)',
    stream: true,
    faults: [[{ kind: 'cut-stream', afterChunks: 7 }]],
    sees: 'TypeError',
    charged: (p) => p + 7,
    billed: (p) => p + 7,
  },
  {
    name: 'connection reset mid-stream, Responses API',
    endpoint: 'responses',
    stream: true,
    faults: [[{ kind: 'cut-stream', afterChunks: 7 }]],
    sees: 'TypeError',
    charged: (p) => p + 7,
    billed: (p) => p + 7,
  },
  {
    name: 'stream with no usage chunk',
    stream: true,
    faults: [[{ kind: 'omit-usage' }]],
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'Responses stream with no usage',
    endpoint: 'responses',
    stream: true,
    faults: [[{ kind: 'omit-usage' }]],
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'missing usage',
    faults: [[{ kind: 'omit-usage' }]],
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'malformed usage (null, "twelve", -1)',
    faults: [[{ kind: 'malformed-usage' }]],
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'malformed usage: negative counts',
    faults: [[{ kind: 'malformed-usage', usage: { prompt_tokens: -5, completion_tokens: -1 } }]],
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'malformed usage: 1e20 and 1.5',
    faults: [[{ kind: 'malformed-usage', usage: { prompt_tokens: 1e20, completion_tokens: 1.5 } }]],
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'malformed usage: a string',
    faults: [[{ kind: 'malformed-usage', usage: 'lots' }]],
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'malformed usage: prompt well-formed, completion not',
    faults: [[{ kind: 'malformed-usage', usage: { prompt_tokens: 11, completion_tokens: 'x' } }]],
    sees: 'ok',
    charged: () => 11 + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'malformed usage on a stream',
    stream: true,
    faults: [[{ kind: 'malformed-usage' }]],
    sees: 'ok',
    charged: (p) => p + REPLY,
    billed: (p) => p + REPLY,
  },
  {
    name: 'usage over-reported ×2',
    faults: [[{ kind: 'over-report-usage', factor: 2 }]],
    sees: 'ok',
    charged: (p) => 2 * (p + REPLY),
    billed: (p) => p + REPLY,
  },
  {
    name: 'usage over-reported ×2 on a stream',
    stream: true,
    faults: [[{ kind: 'over-report-usage', factor: 2 }]],
    sees: 'ok',
    charged: (p) => 2 * (p + REPLY),
    billed: (p) => p + REPLY,
  },
  {
    name: 'usage larger than the reservation, past the limit (+500 each)',
    limit: 200,
    faults: [[{ kind: 'over-report-usage', factor: 1, extraTokens: 500 }]],
    sees: 'ok',
    charged: (p) => p + REPLY + 1_000,
    billed: (p) => p + REPLY,
  },
  {
    name: 'body that cannot be parsed (truncated JSON)',
    client: { fetch: mangling },
    sees: 'SyntaxError',
    charged: (p) => p + CAP,
    billed: (p) => p + REPLY,
  },
];

describe('provider faults through the wrapped openai client', () => {
  const h = useHarness({ replyTokens: REPLY });
  const figures: Figures[] = [];
  afterAll(() => printFigures('provider faults', figures));

  it.each(rows)('$name', async (row) => {
    const endpoint = row.endpoint ?? 'chat';
    const prompt = endpoint === 'chat' ? CHAT_PROMPT : RESPONSES_PROMPT;
    const limit = row.limit ?? 10_000;
    const b = budget(limit);
    const client = h.client({}, row.client);
    for (const [fault, options] of row.faults ?? []) h.server.fail(fault, options);

    let reservedInFlight = 0;
    const sees = await h
      .within(b, async () => {
        const promise =
          endpoint === 'chat'
            ? client.chat.completions.create({
                model: MODEL,
                messages: MESSAGES,
                max_completion_tokens: CAP,
                stream: row.stream,
              })
            : client.responses.create({
                model: MODEL,
                input: RESPONSES_INPUT,
                max_output_tokens: CAP,
                stream: row.stream,
              });
        // The reservation is taken before the request leaves; read it while the call is out.
        await new Promise((resolve) => setImmediate(resolve));
        reservedInFlight = (await h.tokens(b)).reserved;
        const result = await promise;
        if (row.stream) await drain(result as AsyncIterable<unknown>);
        return 'ok';
      })
      .catch((error: unknown) => (error as Error).constructor.name);

    // Settled before the caller resumed: nothing is left for a timer or a GC to clean up.
    const { used, reserved: leaked } = await h.tokens(b);
    await h.server.settled();
    const billed = h.server.tally.totalTokens;
    figures.push({
      case: row.name,
      'caller sees': sees,
      reserved: reservedInFlight,
      charged: used,
      released: Math.max(0, reservedInFlight - used),
      billed,
      'over limit': Math.max(0, used - limit),
      leaked,
    });

    expect(sees).toBe(row.sees);
    expect(leaked).toBe(0);
    expect(reservedInFlight).toBe(prompt + CAP);
    expect(used).toBe(row.charged(prompt));
    expect(billed).toBe(row.billed(prompt));
    expect(h.server.requests).toHaveLength(row.requests ?? 1);
    // A charge is never below what the provider billed, except when the provider's own usage
    // report says less (the report is the source of truth; see 'malformed usage: prompt …').
    if (!row.name.includes('prompt well-formed')) expect(used).toBeGreaterThanOrEqual(billed);
  });

  it('refuses the next call once an over-reported usage took the budget past its limit', async () => {
    const b = budget(200);
    const client = h.client();
    h.server.fail({ kind: 'over-report-usage', factor: 1, extraTokens: 500 });
    const ask = () =>
      h.within(b, () =>
        client.chat.completions.create({
          model: MODEL,
          messages: MESSAGES,
          max_completion_tokens: CAP,
        }),
      );
    await ask();
    await expect(ask()).rejects.toBeInstanceOf(BudgetExceededError);
    expect(h.server.requests).toHaveLength(1);
    expect(await h.tokens(b)).toEqual({ used: CHAT_PROMPT + REPLY + 1_000, reserved: 0 });
  });
});
