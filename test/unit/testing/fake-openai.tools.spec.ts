import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from '../../../lib/counting/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';

let server: FakeOpenAIServer;
let client: OpenAI;
beforeAll(async () => {
  server = await startFakeOpenAI({ replyTokens: 30 });
  client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
});
afterEach(() => server.reset());
afterAll(() => server.close());

const model = 'gpt-4o-mini';
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather?' }];
const schema = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
  required: ['city', 'unit'],
};
const chatTools: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'weather', description: 'Weather', parameters: schema } },
  { type: 'function', function: { name: 'time', parameters: { type: 'object', properties: {} } } },
];
const responseTools: OpenAI.Responses.Tool[] = [
  { type: 'function', name: 'weather', parameters: schema, strict: false },
];
const weatherArgs = JSON.stringify({ city: 'sample city', unit: 'c' });

describe('the fake OpenAI server answers a forced tool choice with a function call', () => {
  it('chat: tool_choice required calls the first function, billed as its name and arguments', async () => {
    const completion = await client.chat.completions.create({
      model,
      messages,
      tools: chatTools,
      tool_choice: 'required',
    });
    const [choice] = completion.choices;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toEqual([
      expect.objectContaining({
        type: 'function',
        function: { name: 'weather', arguments: expect.any(String) },
      }),
    ]);
    const call = choice.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(JSON.parse(call.function.arguments)).toEqual({ city: expect.any(String), unit: 'c' });
    const tokens = countTokens(call.function.name + call.function.arguments, model);
    expect(completion.usage?.completion_tokens).toBe(tokens);
    expect(server.tally.completionTokens).toBe(tokens);
  });

  it('chat: a named choice calls that function; auto and none answer with text as before', async () => {
    const named = await client.chat.completions.create({
      model,
      messages,
      tools: chatTools,
      tool_choice: { type: 'function', function: { name: 'time' } },
    });
    const call = named.choices[0].message
      .tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: 'time', arguments: '{}' });
    for (const choice of ['auto', 'none'] as const) {
      const plain = await client.chat.completions.create({
        model,
        messages,
        tools: chatTools,
        tool_choice: choice,
      });
      expect(plain.choices[0].finish_reason).toBe('stop');
      expect(plain.choices[0].message.tool_calls).toBeUndefined();
      expect(plain.usage?.completion_tokens).toBe(30);
    }
  });

  it('chat: streamed, the call arrives in one delta and the stream ends with tool_calls', async () => {
    const stream = await client.chat.completions.create({
      model,
      messages,
      tools: chatTools,
      tool_choice: 'required',
      stream: true,
      stream_options: { include_usage: true },
    });
    const calls: unknown[] = [];
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        if (choice.delta.tool_calls) calls.push(...choice.delta.tool_calls);
        finish = choice.finish_reason ?? finish;
      }
      usage = chunk.usage ?? usage;
    }
    expect(calls).toEqual([
      expect.objectContaining({ index: 0, function: { name: 'weather', arguments: weatherArgs } }),
    ]);
    expect(finish).toBe('tool_calls');
    expect(usage?.completion_tokens).toBe(countTokens(`weather${weatherArgs}`, model));
    expect(server.tally.completionTokens).toBe(usage?.completion_tokens);
  });

  it('chat: a call that does not fit under the cap is cut: finish length, no call, the cap billed', async () => {
    const completion = await client.chat.completions.create({
      model,
      messages,
      tools: chatTools,
      tool_choice: 'required',
      max_completion_tokens: 3,
    });
    expect(completion.choices[0].finish_reason).toBe('length');
    expect(completion.choices[0].message.tool_calls).toBeUndefined();
    expect(completion.usage?.completion_tokens).toBe(3);
  });

  it('responses: plain and streamed, a function_call item billed as its name and arguments', async () => {
    const tokens = countTokens(`weather${weatherArgs}`, model);
    const response = await client.responses.create({
      model,
      input: 'Weather?',
      tools: responseTools,
      tool_choice: 'required',
    });
    expect(response.status).toBe('completed');
    expect(response.output).toEqual([
      expect.objectContaining({ type: 'function_call', name: 'weather', arguments: weatherArgs }),
    ]);
    expect(response.usage?.output_tokens).toBe(tokens);

    const stream = await client.responses.create({
      model,
      input: 'Weather?',
      tools: responseTools,
      tool_choice: { type: 'function', name: 'weather' },
      stream: true,
    });
    const types: string[] = [];
    let final: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.completed') final = event.response;
    }
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(final?.output).toEqual([
      expect.objectContaining({ type: 'function_call', arguments: weatherArgs }),
    ]);
    expect(final?.usage?.output_tokens).toBe(tokens);
    expect(server.tally.completionTokens).toBe(2 * tokens);
  });
});
