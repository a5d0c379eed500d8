import {
  countClaudeTokens,
  type ClaudeTokenizer,
} from '../../../../lib/testing/anthropic/claude-token.counter.js';
import { INPUT_RULES } from '../../../../lib/testing/anthropic/prompt.layout.js';
import type { FakeAnthropicServer } from '../../../../lib/testing/index.js';

/** A catalog model on the classic tokenizer, used unless a test says otherwise. */
export const MODEL = 'claude-sonnet-4-5';

/** The fake's count of `text` (the same rules its billing uses, written down in its module). */
export function count(text: string, tokenizer: ClaudeTokenizer = 'claude-3'): number {
  return countClaudeTokens(text, tokenizer);
}

/** Input tokens of a prompt of plain user messages, by the documented framing rules. */
export function userPromptTokens(messages: readonly string[], tokenizer?: ClaudeTokenizer): number {
  return (
    INPUT_RULES.replyPrimer +
    messages.reduce((sum, m) => sum + INPUT_RULES.perMessage + count(m, tokenizer), 0)
  );
}

/** Parsed JSON of a raw response; tests read into it freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- arbitrary response JSON
export type Json = any;

/** A raw POST, for bodies and headers the SDK would not send. */
export async function rawPost(
  server: FakeAnthropicServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = { 'anthropic-version': '2023-06-01' },
): Promise<{ status: number; headers: Headers; json: Json; text: string }> {
  const response = await fetch(`${server.baseURL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** One server-sent event as written on the wire. */
export interface WireEvent {
  event: string;
  data: Json;
}

/** Streams `/v1/messages` with fetch and parses every SSE frame, pings included. */
export async function rawEvents(
  server: FakeAnthropicServer,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<WireEvent[]> {
  const response = await rawPost(
    server,
    '/v1/messages',
    { ...body, stream: true },
    {
      'anthropic-version': '2023-06-01',
      ...headers,
    },
  );
  return response.text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const [eventLine, dataLine] = frame.split('\n');
      return {
        event: eventLine!.replace(/^event: /, ''),
        data: JSON.parse(dataLine!.replace(/^data: /, '')),
      };
    });
}
