import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import * as anthropic from '../anthropic/anthropic-wrapper.fixture.js';
import * as openai from '../openai/openai.fixture.js';

// With the SDK's retries on, every attempt the provider may bill has a reservation of its own: an
// attempt that failed with an HTTP error is released, a timed-out one is charged what it reserved
// (it may have run to its end), the one that answered is charged its usage. The retry waits are
// cut to 0 by the retry-after-ms header the SDK honours.
const now = { 'retry-after-ms': '0' };

describe('OpenAI SDK retries', () => {
  const h = openai.useHarness({ replyTokens: 20 }, { serverPerTest: true });
  const request = { model: openai.MODEL, messages: openai.MESSAGES, max_completion_tokens: 50 };

  for (const status of [429, 500, 503]) {
    for (const stream of [false, true]) {
      it(`${status} twice then success (stream: ${stream}): charged once, what the fake billed`, async () => {
        const b = openai.budget({ tokens: 10_000, requests: 10 });
        const client = h.client({}, { maxRetries: 2 });
        h.server.fail({ kind: 'error', status, headers: now }, { times: 2 });
        await h.within(b, async () => {
          if (!stream) return client.chat.completions.create(request);
          return openai.drain(await client.chat.completions.create({ ...request, stream }));
        });
        expect(h.server.requests).toHaveLength(3);
        expect(h.server.tally.requests).toBe(1);
        expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
        const [usage] = await h.ledger.usage([b]);
        expect(usage.dimensions.requests).toMatchObject({ used: 1, reserved: 0 });
        expect(openai.usageEvents(h.events, b)).toHaveLength(1);
      });
    }
  }

  it('a failed call is released once every attempt failed', async () => {
    const b = openai.budget(10_000);
    const client = h.client({}, { maxRetries: 2 });
    h.server.fail({ kind: 'error', status: 500, headers: now }, { times: Infinity });
    await expect(h.within(b, () => client.chat.completions.create(request))).rejects.toBeInstanceOf(
      OpenAI.InternalServerError,
    );
    expect(h.server.requests).toHaveLength(3);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
    expect(openai.usageEvents(h.events, b)).toEqual([]);
  });

  it('a timed-out attempt is charged its reservation, the retry its usage', async () => {
    const b = openai.budget(10_000);
    const client = h.client({}, { maxRetries: 1, timeout: 100 });
    h.server.fail({ kind: 'delay', ms: 2_000 });
    await h.within(b, () => client.chat.completions.create(request));
    expect(h.server.requests).toHaveLength(2);
    const prompt = openai.promptOf();
    // The fake bills nothing for the attempt the client gave up on; a real provider may have.
    expect(await h.tokens(b)).toEqual({ used: prompt + 50 + prompt + 20, reserved: 0 });
    expect(h.server.tally.totalTokens).toBe(prompt + 20);
    expect(openai.usageEvents(h.events, b).map((e) => e.details?.source)).toEqual([
      'estimate',
      'provider',
    ]);
  });

  it('a retry that the budget can no longer hold is refused, never sent', async () => {
    const prompt = openai.promptOf();
    const b = openai.budget(prompt + 50 + prompt + 10);
    const client = h.client({}, { maxRetries: 3, timeout: 100 });
    h.server.fail({ kind: 'delay', ms: 2_000 }, { times: Infinity });
    const error = await h
      .within(b, () => client.chat.completions.create(request))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'BudgetExceededError' });
    // The second attempt is sent with the cap the budget had left, the third is never sent.
    expect(h.server.requests).toHaveLength(2);
    expect(h.server.requests[1].body).toMatchObject({ max_completion_tokens: 10 });
    expect(await h.tokens(b)).toEqual({ used: prompt + 50 + prompt + 10, reserved: 0 });
  });
});

describe('Anthropic SDK retries', () => {
  const h = anthropic.useHarness({ replyTokens: 30 }, { serverPerTest: true });
  const request = { model: anthropic.MODEL, max_tokens: 100, messages: anthropic.MESSAGES };
  const estimate = estimateMessagesInput(request, anthropic.MODEL).inputTokens;

  it.each([429, 500, 529])('%i then success, streamed: charged once', async (status) => {
    const b = anthropic.budget(10_000);
    const client = h.client({}, { maxRetries: 2 });
    h.server.fail({ kind: 'error', status, headers: now }, { times: 1 });
    await h.within(b, async () =>
      anthropic.drain(await client.messages.create({ ...request, stream: true })),
    );
    expect(h.server.requests).toHaveLength(2);
    const billed = h.server.tally.inputTokens + h.server.tally.outputTokens;
    expect(await h.used(b)).toEqual({ used: billed, reserved: 0 });
  });

  it('a timed-out attempt is charged its estimate and grant, the retry its usage', async () => {
    const b = anthropic.budget(10_000);
    const client = h.client({}, { maxRetries: 1, timeout: 100 });
    h.server.fail({ kind: 'delay', ms: 2_000 });
    const message = await h.within(b, () => client.messages.create(request));
    expect(message).toBeDefined();
    expect(h.server.requests).toHaveLength(2);
    expect(await h.used(b)).toEqual({
      used: estimate + 100 + anthropic.fakeInput() + 30,
      reserved: 0,
    });
  });

  it('a failed call is released, and the SDK error keeps its type', async () => {
    const b = anthropic.budget(10_000);
    const client = h.client({}, { maxRetries: 1 });
    h.server.fail({ kind: 'error', status: 529, headers: now }, { times: Infinity });
    await expect(h.within(b, () => client.messages.create(request))).rejects.toBeInstanceOf(
      Anthropic.APIError,
    );
    expect(h.server.requests).toHaveLength(2);
    expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
  });
});

describe('Anthropic SDK retries against a provider that bills every abandoned attempt', () => {
  const h = anthropic.useHarness(
    { replyTokens: 30, abortBilling: 'full' },
    { serverPerTest: true },
  );
  const request = { model: anthropic.MODEL, max_tokens: 100, messages: anthropic.MESSAGES };

  it('two timed-out attempts and an answer: never charged less than the provider billed', async () => {
    const b = anthropic.budget(10_000);
    const client = h.client({}, { maxRetries: 2, timeout: 100 });
    h.server.fail({ kind: 'delay', ms: 300 }, { times: 2 });
    await h.within(b, () => client.messages.create(request));
    await h.server.settled();
    expect(h.server.requests).toHaveLength(3);
    expect(h.server.tally.requests).toBe(3);
    const billed = h.server.tally.inputTokens + h.server.tally.outputTokens;
    const { used, reserved } = await h.used(b);
    expect(reserved).toBe(0);
    expect(used).toBeGreaterThanOrEqual(billed);
    expect(anthropic.usageEvents(h.events, b)).toHaveLength(3);
  });
});
