import { afterAll, describe, expect, it } from 'vitest';
import type { Policy } from '../../lib/core/budget.js';
import { BudgetExceededError, TokencapError } from '../../lib/errors.js';
import { MAX_OUTPUT_TOKENS } from '../../lib/metering/call.planner.js';
import { budget, MESSAGES, MODEL, promptOf, useHarness } from '../unit/openai/openai.fixture.js';
import { type Figures, printFigures } from './support/figures.js';

// Request bodies a caller (or a client relaying user input) gets wrong on purpose or by accident:
// absurd, negative, zero, NaN or non-integer output caps, absurd choice counts, and message
// content that is not text. None may reserve absurdly, overflow the stores' arithmetic, throw
// past the budget, or yield a call the provider bills and the ledger does not charge.

const REPLY = 20;
const LIMIT = 10_000;

describe('hostile request bodies', () => {
  const h = useHarness({ replyTokens: REPLY });
  const figures: Figures[] = [];
  afterAll(() => printFigures('hostile request bodies', figures));

  /** Runs one chat call under a budget; returns what happened, without throwing. */
  async function attempt(
    name: string,
    policy: Policy,
    body: Record<string, unknown>,
    options: { fetch?: typeof fetch; limit?: number } = {},
  ) {
    const limit = options.limit ?? LIMIT;
    const b = budget(limit, { policy });
    const client = h.client({}, options.fetch ? { fetch: options.fetch } : {});
    let reservedInFlight = 0;
    let error: unknown;
    try {
      await h.within(b, async () => {
        const promise = client.chat.completions.create({
          model: MODEL,
          messages: MESSAGES,
          ...body,
        } as never);
        await new Promise((resolve) => setImmediate(resolve));
        reservedInFlight = (await h.tokens(b)).reserved;
        await promise;
      });
    } catch (e) {
      error = e;
    }
    await h.server.settled();
    const { used, reserved } = await h.tokens(b);
    const sent = h.server.requests.at(-1)?.body as Record<string, unknown> | undefined;
    const outcome = {
      sees: error === undefined ? 'ok' : (error as Error).constructor.name,
      error,
      reservedInFlight,
      used,
      reserved,
      billed: h.server.tally.totalTokens,
      requests: h.server.requests.length,
      sentCap: sent?.max_tokens ?? sent?.max_completion_tokens,
    };
    figures.push({
      case: name,
      policy,
      'caller sees': outcome.sees,
      'reserved in flight': reservedInFlight,
      'cap sent': outcome.requests ? JSON.stringify(outcome.sentCap ?? null) : '(not sent)',
      charged: used,
      billed: outcome.billed,
    });
    // Never a free call, never a leaked reservation, never an unsafe number in the store.
    expect(used, `${name}: charged vs billed`).toBeGreaterThanOrEqual(outcome.billed);
    expect(reserved, `${name}: reserved after`).toBe(0);
    expect(Number.isSafeInteger(reservedInFlight), `${name}: reserved ${reservedInFlight}`).toBe(
      true,
    );
    h.server.reset();
    return outcome;
  }

  const P = promptOf();

  describe('absurd output caps', () => {
    for (const cap of [1e12, Number.MAX_SAFE_INTEGER]) {
      it(`max_tokens ${cap}: hard-stop sends what it granted`, async () => {
        const r = await attempt(`max_tokens ${cap}`, 'hard-stop', { max_tokens: cap });
        expect(r.sees).toBe('ok');
        expect(r.reservedInFlight).toBe(LIMIT);
        expect(r.sentCap).toBe(LIMIT - P);
        expect(r.used).toBe(P + REPLY);
      });

      for (const policy of ['degrade', 'notify'] as const) {
        it(`max_tokens ${cap}: ${policy} reserves at most ${MAX_OUTPUT_TOKENS} output tokens`, async () => {
          const r = await attempt(`max_tokens ${cap}`, policy, { max_tokens: cap });
          // Sent as asked (OpenAI would answer 400; the fake serves it), charged as billed.
          expect(r.sees).toBe('ok');
          expect(r.sentCap).toBe(cap);
          expect(r.reservedInFlight).toBe(P + MAX_OUTPUT_TOKENS);
          expect(r.used).toBe(P + REPLY);
        });
      }
    }

    it('absurd choice counts are refused before anything is reserved or sent', async () => {
      for (const n of [1e6, Number.MAX_SAFE_INTEGER]) {
        for (const policy of ['hard-stop', 'notify'] as const) {
          const r = await attempt(`n ${n}`, policy, { n });
          expect(r.error).toBeInstanceOf(TokencapError);
          expect((r.error as Error).message).toMatch(/at most 128/);
          expect(r.requests).toBe(0);
          expect(r.reservedInFlight).toBe(0);
        }
      }
      // Within the API's range, each choice reserves its own output.
      const r = await attempt('n 128', 'notify', { n: 128, max_tokens: 10 });
      expect(r.reservedInFlight).toBe(P + 128 * 10);
      expect(r.used).toBe(P + 128 * 10);
    });
  });

  describe('invalid output caps: never a free call', () => {
    const invalid: [string, unknown][] = [
      ['-5', -5],
      ['0', 0],
      ['NaN', NaN],
      ['2.5', 2.5],
      ['"100"', '100'],
    ];
    for (const [label, value] of invalid) {
      it(`max_tokens ${label}`, async () => {
        // Under every policy an invalid cap is the caller's error (TokencapRequestError, HTTP 400
        // in Nest), refused before anything is reserved or sent.
        for (const policy of ['hard-stop', 'notify'] as const) {
          const outcome = await attempt(`max_tokens ${label}`, policy, { max_tokens: value });
          expect(outcome.sees).toBe('TokencapRequestError');
          expect(outcome.error).toMatchObject({ parameter: 'max_tokens' });
          expect(outcome).toMatchObject({ used: 0, reserved: 0, billed: 0, requests: 0 });
        }
      });
    }
  });

  describe('content that is not text', () => {
    const circular: Record<string, unknown> = { type: 'text' };
    circular.text = circular;
    let deep: unknown = 'leaf';
    for (let i = 0; i < 50_000; i++) deep = [deep];
    const words = 'word '.repeat(400);
    const cases: [string, unknown][] = [
      ['number', [{ role: 'user', content: 42 }]],
      ['null', [{ role: 'user', content: null }]],
      ['object', [{ role: 'user', content: { text: words } }]],
      ['array of null and numbers', [{ role: 'user', content: [null, 123, true] }]],
      [
        'part with an object text',
        [{ role: 'user', content: [{ type: 'text', text: { words } }] }],
      ],
      ['a bare string message', ['hello', { role: 'user', content: 'hi' }]],
      [
        'tool call arguments as an object',
        [
          { role: 'user', content: 'hi' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'c1', type: 'function', function: { name: 'f', arguments: { words } } },
            ],
          },
          { role: 'tool', tool_call_id: 'c1', content: 'ok' },
        ],
      ],
      ['a BigInt', [{ role: 'user', content: 10n }]],
      ['a cycle', [{ role: 'user', content: [circular] }]],
      ['50,000 nested arrays', [{ role: 'user', content: deep }]],
      ['a Symbol', [{ role: 'user', content: Symbol('x') }]],
    ];
    for (const [name, messages] of cases) {
      it(`${name}: counted conservatively or refused, never a TypeError past the budget`, async () => {
        const r = await attempt(`content: ${name}`, 'hard-stop', { messages, max_tokens: 50 });
        if (r.error !== undefined) {
          // Refused before the request left (the SDK cannot serialise it): nothing billed.
          expect(r.requests, `${name}: ${String(r.error)}`).toBe(0);
          expect(r.used).toBe(0);
        } else {
          expect(r.used).toBeGreaterThan(0);
        }
      });
    }

    /** A lenient server: stringifies non-text content and bills it, as some compatible ones do. */
    const lenient: typeof fetch = (input, init) => {
      const body = JSON.parse(String(init?.body)) as { messages: { content: unknown }[] };
      for (const m of body.messages) {
        if (Array.isArray(m.content)) {
          m.content = m.content.map((p: { text?: unknown }) =>
            typeof p?.text === 'object' ? { ...p, text: JSON.stringify(p.text) } : p,
          );
        } else if (m.content !== null && typeof m.content !== 'string') {
          m.content = JSON.stringify(m.content);
        }
      }
      return fetch(input, { ...init, body: JSON.stringify(body) });
    };

    it('a server that bills non-text content cannot take a hard-stop budget past its limit', async () => {
      const content = { text: words }; // about 400 tokens once serialised
      // Budget too small for the serialised prompt: refused before the request is sent.
      const small = await attempt(
        'object content, lenient server, 300 budget',
        'hard-stop',
        {
          messages: [{ role: 'user', content }],
        },
        { fetch: lenient, limit: 300 },
      );
      expect(small.error).toBeInstanceOf(BudgetExceededError);
      expect(small.requests).toBe(0);

      // Room for it: the reservation covers the serialised prompt, the bill stays in the limit.
      const roomy = await attempt(
        'object content, lenient server, 600 budget',
        'hard-stop',
        {
          messages: [{ role: 'user', content }],
        },
        { fetch: lenient, limit: 600 },
      );
      expect(roomy.sees).toBe('ok');
      expect(roomy.billed).toBeGreaterThan(400);
      expect(roomy.reservedInFlight).toBeGreaterThanOrEqual(roomy.billed - REPLY);
      expect(roomy.used).toBeLessThanOrEqual(600);
    });
  });
});
