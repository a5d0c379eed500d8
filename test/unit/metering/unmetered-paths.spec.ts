import Anthropic from '@anthropic-ai/sdk';
import { Page as AnthropicPage } from '@anthropic-ai/sdk/pagination';
import OpenAI from 'openai';
import { Page } from 'openai/pagination';
import { describe, expect, it } from 'vitest';
import { TokencapConfigError, UnmeteredCallError } from '../../../lib/errors.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import * as anthropic from '../anthropic/anthropic-wrapper.fixture.js';
import { budget, drain, MESSAGES, MODEL, useHarness } from '../openai/openai.fixture.js';

// Inside a budget, a billable request the wrapper does not meter is refused, never sent unseen;
// with outsideBudget: 'refuse', so is every billable call made with no budget open.

const chatBody = { model: MODEL, messages: MESSAGES, max_completion_tokens: 10 };

describe('OpenAI paths around the metered methods', () => {
  const h = useHarness({ replyTokens: 10 });

  it.each([
    [
      'client.post(/chat/completions)',
      (c: OpenAI) => c.post('/chat/completions', { body: chatBody }),
    ],
    [
      'client.post(/responses)',
      (c: OpenAI) => c.post('/responses', { body: { model: MODEL, input: 'x' } }),
    ],
    [
      'completions.create',
      (c: OpenAI) =>
        c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hello.' }),
    ],
    ['images.generate', (c: OpenAI) => c.images.generate({ prompt: 'a cat' })],
    [
      'client.request(post /embeddings)',
      (c: OpenAI) =>
        c.request({ method: 'post', path: '/embeddings', body: { model: 'x', input: 'y' } }),
    ],
    // The list helpers skip client.request() and go straight to the SDK's makeRequest().
    [
      'client.getAPIList(post /chat/completions)',
      (c: OpenAI) => c.getAPIList('/chat/completions', Page, { method: 'post', body: chatBody }),
    ],
    [
      'client.requestAPIList(post /chat/completions)',
      (c: OpenAI) =>
        c.requestAPIList(Page as never, {
          method: 'post',
          path: '/chat/completions',
          body: chatBody,
        }),
    ],
    // Model-graded: the eval's sampled model and its graders are billed.
    [
      'evals.runs.create',
      (c: OpenAI) =>
        c.evals.runs.create('eval_1', {
          data_source: { type: 'jsonl', source: { type: 'file_id', id: 'file_1' } },
        }),
    ],
    [
      'fineTuning.alpha.graders.run',
      (c: OpenAI) =>
        c.fineTuning.alpha.graders.run({
          grader: { type: 'score_model', model: MODEL, input: [], name: 'g' },
          model_sample: 'x',
        }),
    ],
  ])('%s inside a budget: UnmeteredCallError, nothing sent', async (_, call) => {
    const b = budget(10_000);
    const client = h.client();
    const error = await h.within(b, async () => call(client)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnmeteredCallError);
    expect(error).toMatchObject({ reason: 'unmetered-endpoint' });
    expect(h.server.requests).toHaveLength(0);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
  });

  it('beta.responses.create is metered like responses.create', async () => {
    const b = budget(10_000);
    const client = h.client();
    const response = await h.within(b, () =>
      client.beta.responses.create({ model: MODEL, input: 'Say hello.' } as never),
    );
    expect(response).toMatchObject({ object: 'response' });
    expect(h.server.requests).toHaveLength(1);
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });

  it('the metered methods, their raw forms and helpers still go through, charged once each', async () => {
    const b = budget(100_000);
    const client = h.client();
    await h.within(b, async () => {
      await client.chat.completions.create(chatBody).withResponse();
      await (await client.chat.completions.create(chatBody).asResponse()).json();
      await drain(client.responses.stream({ model: MODEL, input: 'Say hello.' }));
      await client.chat.completions.stream(chatBody).finalChatCompletion();
      await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    });
    await h.server.settled();
    expect(h.server.requests).toHaveLength(5);
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });

  it('requests that are not billable pass inside a budget, and every request outside one', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, () => client.models.list()).catch(() => undefined);
    await client.post('/chat/completions', { body: chatBody });
    expect(h.server.requests.map((r) => r.path)).toEqual(['/v1/models', '/v1/chat/completions']);
  });

  it("outsideBudget: 'refuse' refuses every billable call made with no budget open", async () => {
    const client = h.client({ outsideBudget: 'refuse' });
    for (const call of [
      () => client.chat.completions.create(chatBody),
      () => client.responses.create({ model: MODEL, input: 'x' }),
      () => client.post('/chat/completions', { body: chatBody }),
      () =>
        client.requestAPIList(Page as never, {
          method: 'post',
          path: '/chat/completions',
          body: chatBody,
        }),
      () =>
        client.getAPIList('/responses', Page, {
          method: 'post',
          body: { model: MODEL, input: 'x' },
        }),
    ]) {
      const error = await Promise.resolve()
        .then(call)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnmeteredCallError);
      expect(error).toMatchObject({ reason: 'no-budget' });
    }
    expect(h.server.requests).toHaveLength(0);
    // Inside a budget, and with the wrapper's own budgets, the same client is metered.
    const b = budget(10_000);
    await h.within(b, () => client.chat.completions.create(chatBody));
    const own = budget(10_000);
    const withBudgets = wrapOpenAI(h.raw(), {
      outsideBudget: 'refuse',
      ledger: h.ledger,
      budgets: [own],
    });
    await withBudgets.chat.completions.create(chatBody);
    expect(h.server.requests).toHaveLength(2);
    expect((await h.tokens(b)).used).toBeGreaterThan(0);
    expect((await h.tokens(own)).used).toBeGreaterThan(0);
  });

  it('outsideBudget rejects other values', () => {
    expect(() => h.client({ outsideBudget: 'deny' as never })).toThrow(TokencapConfigError);
    expect(() => h.client({ outsideBudget: 'deny' as never })).toThrow(
      /Invalid outsideBudget "deny"/,
    );
  });
});

describe('Anthropic paths around the metered methods', () => {
  const h = anthropic.useHarness({ replyTokens: 10 });
  const request = { model: anthropic.MODEL, max_tokens: 20, messages: anthropic.MESSAGES };

  it.each([
    ['client.post(/v1/messages)', (c: Anthropic) => c.post('/v1/messages', { body: request })],
    [
      'client.requestAPIList(post /v1/messages)',
      (c: Anthropic) =>
        c.requestAPIList(AnthropicPage as never, {
          method: 'post',
          path: '/v1/messages',
          body: request,
        }),
    ],
    [
      'messages.batches.create',
      (c: Anthropic) =>
        c.messages.batches.create({ requests: [{ custom_id: 'a', params: request }] }),
    ],
    // The SDK sends an absolute URL as given, and `new URL` drops dot segments: the path the
    // request reaches is what is matched, not the string given.
    [
      'client.post(<absolute URL of /v1/messages>)',
      (c: Anthropic) => c.post(`${c.baseURL}/v1/messages`, { body: request }),
    ],
    ['client.post(/v1/./messages)', (c: Anthropic) => c.post('/v1/./messages', { body: request })],
    [
      'client.post(/v1/batches/../messages)',
      (c: Anthropic) => c.post('/v1/batches/../messages', { body: request }),
    ],
    [
      'client.post(/v1/%6Dessages/)',
      (c: Anthropic) => c.post('/v1/%6Dessages/', { body: request }),
    ],
    [
      'client.post(<absolute URL of /v1/messages/batches>)',
      (c: Anthropic) =>
        c.post(`${c.baseURL}/v1/messages/batches`, {
          body: { requests: [{ custom_id: 'a', params: request }] },
        }),
    ],
  ])('%s inside a budget: UnmeteredCallError, nothing sent', async (_, call) => {
    const b = anthropic.budget(10_000);
    const client = h.client();
    const error = await h.within(b, async () => call(client)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnmeteredCallError);
    expect(h.server.requests).toHaveLength(0);
    expect(anthropic.billedTokens(h.server)).toBe(0);
  });

  it('count_tokens, which bills nothing, still passes inside a budget as an absolute URL', async () => {
    const b = anthropic.budget(10_000);
    const client = h.client();
    await h.within(b, () =>
      client.post(`${client.baseURL}/v1/messages/count_tokens`, {
        body: { model: anthropic.MODEL, messages: anthropic.MESSAGES },
      }),
    );
    expect(h.server.requests).toHaveLength(1);
  });

  it("outsideBudget: 'refuse' refuses messages.create and messages.stream() with no budget", async () => {
    const client = h.client({ outsideBudget: 'refuse' });
    await expect(Promise.resolve().then(() => client.messages.create(request))).rejects.toThrow(
      UnmeteredCallError,
    );
    await expect(client.messages.stream(request).finalMessage()).rejects.toThrow(/outsideBudget/);
    expect(h.server.requests).toHaveLength(0);
    const b = anthropic.budget(10_000);
    await h.within(b, () => client.messages.create(request));
    expect(h.server.requests).toHaveLength(1);
  });
});
