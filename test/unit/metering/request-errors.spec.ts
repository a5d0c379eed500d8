import { describe, expect, it } from 'vitest';
import { TokencapRequestError } from '../../../lib/errors.js';
import * as anthropic from '../anthropic/anthropic-wrapper.fixture.js';

describe('Anthropic requests Tokencap refuses as invalid', () => {
  const h = anthropic.useHarness({ replyTokens: 10 });

  it.each([-1, 1.5, '100', Number.NaN])(
    'max_tokens %j: TokencapRequestError, nothing sent',
    async (value) => {
      const b = anthropic.budget(10_000);
      const client = h.client();
      const error = await h
        .within(b, () =>
          client.messages.create({
            model: anthropic.MODEL,
            max_tokens: value as number,
            messages: anthropic.MESSAGES,
          }),
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokencapRequestError);
      expect(error).toMatchObject({ parameter: 'max_tokens' });
      expect(h.server.requests).toHaveLength(0);
      expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
    },
  );

  it('max_tokens: 0 (prompt-cache warm-up) is still sent', async () => {
    const b = anthropic.budget(10_000);
    const client = h.client();
    await h
      .within(b, () =>
        client.messages.create({
          model: anthropic.MODEL,
          max_tokens: 0,
          messages: anthropic.MESSAGES,
        }),
      )
      .catch(() => undefined);
    expect(h.server.requests).toHaveLength(1);
  });
});
