import fc from 'fast-check';
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import { budget, MODEL, useHarness } from '../openai/openai.fixture.js';

// The SDK sends JSON.stringify(body): a value with toJSON is sent as what it returns. The wrapper
// counts the same body, so the reservation and an estimated charge match what the provider bills.

class Prompt {
  constructor(
    private readonly text: string,
    readonly internal = 'note '.repeat(3_000),
  ) {}
  toJSON(): string {
    return this.text;
  }
}

/** Sends far more text than its own properties hold. */
class Repeat {
  constructor(
    readonly word: string,
    readonly times: number,
  ) {}
  toJSON(): string {
    return this.word.repeat(this.times);
  }
}

const asContent = (value: unknown) => value as OpenAI.ChatCompletionUserMessageParam['content'];

describe('request values with toJSON are counted as the SDK serializes them', () => {
  const h = useHarness({ replyTokens: 5 });

  it('an estimated charge equals what the provider billed, whatever the text', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 400 }),
        fc.constantFrom<'class' | 'date'>('class', 'date'),
        async (text, kind) => {
          const b = budget(100_000);
          const client = h.client();
          h.server.reset();
          h.server.fail({ kind: 'omit-usage' });
          const content = kind === 'class' ? new Prompt(text) : new Date(text.length * 1e9);
          await h.within(b, () =>
            client.chat.completions.create({
              model: MODEL,
              messages: [{ role: 'user', content: asContent(content) }],
              max_completion_tokens: 5,
            }),
          );
          // Usage omitted: the charge is Tokencap's own count of the prompt, plus the reply.
          expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('a prompt whose serialized text cannot fit is refused before it is sent', async () => {
    const b = budget(200);
    const client = h.client();
    const error = await h
      .within(b, () =>
        client.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: asContent(new Repeat('word ', 500)) }],
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(h.server.requests).toHaveLength(0);
  });

  it("an object's own properties that toJSON hides are not counted", async () => {
    const b = budget(1_000);
    const client = h.client();
    // 3,000 words in a property the SDK never sends: a 1,000-token budget holds the call.
    await h.within(b, () =>
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: asContent(new Prompt('Say hello.')) }],
        max_completion_tokens: 5,
      }),
    );
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });
});
