import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { BudgetExceededError, TokencapError } from '../../../lib/errors.js';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import {
  billedTokens,
  budget,
  drain,
  fakeInput,
  MESSAGES,
  MODEL,
  usageEvents,
  useHarness,
} from './anthropic-wrapper.fixture.js';

const estimate = estimateMessagesInput({ model: MODEL, messages: MESSAGES }, MODEL).inputTokens;
const request = { model: MODEL, max_tokens: 100, messages: MESSAGES };

describe('wrapAnthropic: provider errors and SDK retries', () => {
  const h = useHarness({ replyTokens: 30 }, { serverPerTest: true });

  it.each([429, 500, 529])(
    'releases the reservation of a call that fails with %i',
    async (status) => {
      const b = budget(10_000);
      const client = h.client();
      h.server.fail({ kind: 'error', status });
      const error = await h
        .within(b, () => client.messages.create(request))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.APIError);
      expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(status);
      expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
      expect(usageEvents(h.events, b)).toEqual([]);
    },
  );

  it.each([429, 500, 529])('charges once when an SDK retry after %i succeeds', async (status) => {
    const b = budget({ tokens: 10_000, requests: 10 });
    const client = h.client({}, { maxRetries: 2 });
    h.server.fail({ kind: 'error', status }, { times: 2 });
    await h.within(b, () => client.messages.create(request));
    expect(h.server.requests).toHaveLength(3);
    expect(h.server.tally.requests).toBe(1);
    expect(await h.used(b)).toEqual({ used: fakeInput() + 30, reserved: 0 });
    expect(await h.used(b, 'requests')).toEqual({ used: 1, reserved: 0 });
    expect(usageEvents(h.events, b)).toHaveLength(1);
  });

  it('releases once when every retry fails, streamed or not', async () => {
    const b = budget(10_000);
    const client = h.client({}, { maxRetries: 2 });
    h.server.fail({ kind: 'error', status: 529 }, { times: Infinity });
    await expect(h.within(b, () => client.messages.create(request))).rejects.toBeInstanceOf(
      Anthropic.APIError,
    );
    await expect(
      h.within(b, async () => drain(await client.messages.create({ ...request, stream: true }))),
    ).rejects.toBeInstanceOf(Anthropic.APIError);
    expect(h.server.requests).toHaveLength(6);
    expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
  });

  it('charges a call that times out its estimate and grant (it may have been billed)', async () => {
    const b = budget(10_000);
    const client = h.client({}, { timeout: 50 });
    h.server.fail({ kind: 'delay', ms: 1_000 });
    await expect(h.within(b, () => client.messages.create(request))).rejects.toBeInstanceOf(
      Anthropic.APIConnectionTimeoutError,
    );
    expect(await h.used(b)).toEqual({ used: estimate + 100, reserved: 0 });
  });

  it('a response without usage is charged the estimated input and all it was granted', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'omit-usage' });
    await h.within(b, () => client.messages.create(request));
    expect(await h.used(b)).toEqual({ used: estimate + 100, reserved: 0 });
    expect(usageEvents(h.events, b)[0].details).toMatchObject({
      source: 'estimate',
      outputTokens: 100,
    });
  });

  it('malformed usage is never read in part: the estimate is charged', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'malformed-usage' });
    await h.within(b, () => client.messages.create(request));
    h.server.fail({
      kind: 'malformed-usage',
      usage: { input_tokens: 10, cache_read_input_tokens: -5, output_tokens: 30 },
    });
    await h.within(b, () => client.messages.create(request));
    // The second: output as reported (30), input from Tokencap's count (a cache count was broken).
    expect(await h.used(b)).toEqual({ used: estimate + 100 + estimate + 30, reserved: 0 });
  });

  it('commits what Anthropic reports, even when it reports more or less than it billed', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'over-report-usage', factor: 2 });
    const over = await h.within(b, () => client.messages.create(request));
    h.server.fail({ kind: 'under-report-usage', factor: 0.5 });
    const under = await h.within(b, () => client.messages.create(request));
    const reported = [over, under].reduce(
      (sum, m) => sum + m.usage.input_tokens + m.usage.output_tokens,
      0,
    );
    expect(await h.used(b)).toEqual({ used: reported, reserved: 0 });
  });
});

describe("wrapAnthropic: counting: 'api'", () => {
  const h = useHarness({ replyTokens: 30 }, { serverPerTest: true });

  it('reserves the exact count of count_tokens, and a prompt that cannot fit is refused by it', async () => {
    const client = h.client({ counting: 'api' });
    const exact = fakeInput();
    const fits = budget(exact + 30);
    await h.within(fits, () => client.messages.create(request));
    expect(h.server.tally.countTokensRequests).toBe(1);
    expect(await h.used(fits)).toEqual({ used: exact + 30, reserved: 0 });

    const tooSmall = budget(exact);
    const error = await h
      .within(tooSmall, () => client.messages.create(request))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect((error as BudgetExceededError).requested).toBe(exact + 1);
    expect(h.server.requests.filter((r) => r.path === '/v1/messages')).toHaveLength(1);
  });

  it('sends count_tokens only the fields it takes, for the model that will be sent', async () => {
    const client = h.client({ counting: 'api' });
    await h.within(budget(10_000), () =>
      client.messages.create({
        ...request,
        stop_sequences: ['###'],
        metadata: { user_id: 'u' },
      }),
    );
    const count = h.server.requests.find((r) => r.path === '/v1/messages/count_tokens');
    expect(count?.body).toEqual({ model: MODEL, messages: MESSAGES });
  });

  it.each([429, 500, 529])(
    'fails closed when count_tokens fails with %i: nothing reserved, nothing sent',
    async (status) => {
      const b = budget(10_000);
      const client = h.client({ counting: 'api' });
      h.server.fail(
        { kind: 'error', status },
        { when: (r) => r.path === '/v1/messages/count_tokens' },
      );
      const error = await h
        .within(b, () => client.messages.create(request))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.APIError);
      expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(status);
      expect(h.server.requests.map((r) => r.path)).toEqual(['/v1/messages/count_tokens']);
      expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
    },
  );

  it('fails closed on a count_tokens answer without a whole input_tokens', async () => {
    const b = budget(10_000);
    const client = h.client({ counting: 'api' });
    h.server.fail(
      { kind: 'malformed-usage' },
      { when: (r) => r.path === '/v1/messages/count_tokens' },
    );
    const error = await h.within(b, () => client.messages.create(request)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokencapError);
    expect((error as Error).message).toContain('input_tokens ("many")');
    expect(h.server.requests.map((r) => r.path)).toEqual(['/v1/messages/count_tokens']);
    expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
  });

  it('the SDK retries a failed count, and the call then goes through once', async () => {
    const b = budget(10_000);
    const client = h.client({ counting: 'api' }, { maxRetries: 1 });
    h.server.fail(
      { kind: 'error', status: 529 },
      { when: (r) => r.path === '/v1/messages/count_tokens' },
    );
    await h.within(b, () => client.messages.create(request));
    expect(h.server.requests.map((r) => r.path)).toEqual([
      '/v1/messages/count_tokens',
      '/v1/messages/count_tokens',
      '/v1/messages',
    ]);
    expect(await h.used(b)).toEqual({ used: fakeInput() + 30, reserved: 0 });
  });
});

describe('wrapAnthropic: a connection dropped after the request reached Anthropic', () => {
  // The fake reads and runs the request, bills all of it, then drops the socket before any byte.
  const h = useHarness({ replyTokens: 30, abortBilling: 'full' }, { serverPerTest: true });
  const input = estimateMessagesInput({ model: MODEL, messages: MESSAGES }, MODEL).inputTokens;

  for (const stream of [false, true]) {
    it(`is charged at least what Anthropic billed, fail closed (stream: ${stream})`, async () => {
      const b = budget(10_000);
      const client = h.client();
      h.server.fail({ kind: 'cut-stream', afterChunks: 0 });
      const error = await h
        .within(b, async () => {
          const result = await client.messages.create({
            model: MODEL,
            max_tokens: 100,
            messages: MESSAGES,
            stream,
          });
          if (stream) await drain(result as AsyncIterable<unknown>);
        })
        .catch((e: unknown) => e);
      // Plain: the SDK's APIConnectionError; streamed: the stream's read fails after message_start.
      expect(error).toBeInstanceOf(stream ? Error : Anthropic.APIConnectionError);
      await h.server.settled();
      expect(billedTokens(h.server)).toBeGreaterThan(0);
      const { used, reserved } = await h.used(b);
      expect(reserved).toBe(0);
      expect(used).toBeGreaterThanOrEqual(billedTokens(h.server));
      // The input is message_start's when the stream got that far, else the counted prompt.
      expect(used).toBe((stream ? fakeInput() : input) + 100);
    });
  }

  it('with SDK retries, every attempt is charged, and the budget stops them', async () => {
    const b = budget(300);
    const client = h.client({}, { maxRetries: 2 });
    h.server.fail({ kind: 'cut-stream', afterChunks: 0 }, { times: 100 });
    for (let i = 0; i < 5; i++) {
      await h
        .within(b, () =>
          client.messages.create({ model: MODEL, max_tokens: 50, messages: MESSAGES }),
        )
        .catch((e: unknown) => e);
    }
    await h.server.settled();
    const { used, reserved } = await h.used(b);
    expect(reserved).toBe(0);
    expect(billedTokens(h.server)).toBeLessThanOrEqual(300);
    expect(used).toBeGreaterThanOrEqual(billedTokens(h.server));
    expect(used).toBeLessThanOrEqual(300);
  });
});
