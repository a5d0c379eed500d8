import { describe, expect, it } from 'vitest';
import { TokencapConfigError } from '../../../lib/errors.js';
import { ModelCatalog } from '../../../lib/models/index.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import { budget, MESSAGES, promptOf, useHarness } from './openai.fixture.js';

describe('model output limits', () => {
  const h = useHarness({ replyTokens: 5 });

  it('never caps an uncapped call above its model own limit under hard-stop', async () => {
    const b = budget(100_000);
    await h.within(b, () =>
      h.client().chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }),
    );
    // 100,000 tokens are left, but gpt-4o accepts at most 16,384 output tokens.
    expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 16_384 });
  });

  it('caps at what the budget has left when that is below the model limit', async () => {
    const b = budget(5_000);
    await h.within(b, () =>
      h.client().chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }),
    );
    expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 5_000 - promptOf() });
  });

  it('resolves dated and fine-tuned names, and takes extra limits from the options', async () => {
    const limits = new ModelCatalog({ outputLimits: { 'my-model': 2_048 } });
    expect(limits.outputLimit('gpt-4o-2024-08-06')).toBe(16_384);
    expect(limits.outputLimit('gpt-4o-2024-05-13')).toBe(4_096);
    expect(limits.outputLimit('ft:gpt-4.1-mini-2025-04-14:acme::abc')).toBe(32_768);
    expect(limits.outputLimit('o3-mini-2025-01-31')).toBe(100_000);
    expect(limits.outputLimit('my-model-v2')).toBe(2_048);
    expect(limits.outputLimit('llama-3-70b')).toBeUndefined();

    const client = wrapOpenAI(h.raw(), { modelOutputLimits: { 'llama-3': 1_000 } });
    await h.within(budget(100_000), () =>
      client.chat.completions.create({ model: 'llama-3-70b', messages: MESSAGES }),
    );
    expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 1_000 });
  });

  it('caps a model found in no table at what the budget has left', async () => {
    const b = budget(3_000);
    await h.within(b, () =>
      h.client().chat.completions.create({ model: 'llama-3-70b', messages: MESSAGES }),
    );
    const prompt = promptOf(MESSAGES, 'llama-3-70b');
    expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 3_000 - prompt });
  });

  it('leaves uncapped calls uncapped when no hard-stop budget applies', async () => {
    const b = budget(100_000, { policy: 'notify' });
    await h.within(b, () =>
      h.client().chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }),
    );
    expect(h.server.requests[0].body).not.toHaveProperty('max_completion_tokens');
    expect(h.server.requests[0].body).not.toHaveProperty('max_tokens');
  });

  it('rejects a malformed limit naming the model', () => {
    expect(() => wrapOpenAI(h.raw(), { modelOutputLimits: { 'my-model': 0 } })).toThrow(
      TokencapConfigError,
    );
    expect(() => wrapOpenAI(h.raw(), { modelOutputLimits: { 'my-model': 0 } })).toThrow(
      'Invalid modelOutputLimits["my-model"] of wrapOpenAI: 0. Expected a positive whole number of tokens.',
    );
  });
});
