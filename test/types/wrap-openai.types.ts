// Compile-time checks only (run by `tsc --noEmit`, never executed): the wrapped client keeps the
// exact type of the client passed in, overloads included.
import OpenAI, { AzureOpenAI, type APIPromise } from 'openai';
import type { Stream } from 'openai/core/streaming';
import { expectTypeOf } from 'vitest';
import { wrapOpenAI } from '../../lib/index.js';

export function wrappedClientTypes(raw: OpenAI, azure: AzureOpenAI): void {
  const client = wrapOpenAI(raw);
  expectTypeOf(client).toEqualTypeOf<OpenAI>();
  expectTypeOf(wrapOpenAI(azure)).toEqualTypeOf<AzureOpenAI>();
  expectTypeOf(client.chat.completions.create).toEqualTypeOf<
    OpenAI['chat']['completions']['create']
  >();

  const plain = client.chat.completions.create({ model: 'gpt-4o', messages: [] });
  expectTypeOf(plain).toEqualTypeOf<APIPromise<OpenAI.ChatCompletion>>();
  const streamed = client.chat.completions.create({ model: 'gpt-4o', messages: [], stream: true });
  expectTypeOf(streamed).toEqualTypeOf<APIPromise<Stream<OpenAI.ChatCompletionChunk>>>();
  expectTypeOf(client.responses.create({ model: 'gpt-4o', input: 'hi' })).toEqualTypeOf<
    APIPromise<OpenAI.Responses.Response>
  >();
  expectTypeOf(
    client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' }),
  ).toEqualTypeOf<APIPromise<OpenAI.CreateEmbeddingResponse>>();

  // Assignable both ways: nothing added, nothing lost.
  const asOpenAI: OpenAI = client;
  const back: typeof client = raw;
  void asOpenAI;
  void back;
}
