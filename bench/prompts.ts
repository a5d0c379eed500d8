// Requests for the latency benchmarks, and canned provider answers. Every request built here has
// strings no earlier request had (each carries its index), so Tokencap's count cache never answers
// for them: the figures are for prompts it has not seen, the expensive case. The agent loop is the
// exception on purpose: earlier turns are resent as they are, as a real loop does.

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type OpenAI from 'openai';
import { loadCorpora } from './corpus.js';

export type ChatBody = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;
export type ChatMessage = OpenAI.Chat.Completions.ChatCompletionMessageParam;
export type ChatTool = OpenAI.Chat.Completions.ChatCompletionTool;

export const MODEL = 'gpt-4o-mini';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Real English, so the tokenizer does the work it does on real prompts: sentences from the
// prose corpus (package READMEs). A handful of repeated sentences would let the tokenizer's own
// merge cache answer most words and understate encoding time.
let pool: string[] | undefined;
function sentences(): string[] {
  if (pool === undefined) {
    const [prose] = loadCorpora(root, 400_000, 4096);
    pool = prose.chunks
      .join(' ')
      .split(/(?<=[.!?])\s+/)
      .filter((sentence) => sentence.length >= 40 && sentence.length <= 300);
    if (pool.length < 100)
      throw new Error(`prompts: only ${pool.length} sentences in the prose corpus`);
  }
  return pool;
}

/** About `tokens` tokens of English, unique to `tag`. */
export function text(tag: string, tokens: number, seed: number): string {
  const all = sentences();
  const parts = [`[${tag}]`];
  let chars = 0;
  // ~4.2 characters per token in English prose.
  for (let i = (seed * 7919) % all.length; chars < tokens * 4.2; i = (i + 1) % all.length) {
    parts.push(all[i]);
    chars += all[i].length + 1;
  }
  return parts.join(' ');
}

/** (a) A one-message prompt of about 20 tokens (message framing included). */
export function smallPrompt(i: number): ChatBody {
  return {
    model: MODEL,
    messages: [
      { role: 'user', content: `Request ${i}: suggest three names for a friendly garden robot.` },
    ],
  };
}

function tools(i: number): ChatTool[] {
  const tool = (
    name: string,
    description: string,
    properties: Record<string, unknown>,
  ): ChatTool => ({
    type: 'function',
    function: {
      name: `${name}_${i}`,
      description,
      parameters: { type: 'object', properties, required: Object.keys(properties) },
    },
  });
  return [
    tool('lookup_order', text(`tool-a ${i}`, 30, i), {
      order_id: { type: 'string', description: `The order number, e.g. A-${i}.` },
      include_items: { type: 'boolean', description: 'Whether to list the items in the order.' },
    }),
    tool('search_knowledge_base', text(`tool-b ${i}`, 30, i + 1), {
      query: { type: 'string', description: 'What to search for, in plain words.' },
      limit: { type: 'integer', description: 'How many articles to return, at most 10.' },
    }),
    tool('create_ticket', text(`tool-c ${i}`, 30, i + 2), {
      subject: { type: 'string', description: 'A one-line summary of the problem.' },
      priority: {
        type: 'string',
        enum: ['low', 'normal', 'high'],
        description: 'How urgent it is.',
      },
    }),
  ];
}

/** (b) About 1,000 prompt tokens: a system prompt, six turns and three tools. */
export function largePrompt(i: number): ChatBody {
  const messages: ChatMessage[] = [{ role: 'system', content: text(`system ${i}`, 120, i) }];
  for (let turn = 0; turn < 6; turn++) {
    messages.push({
      role: turn % 2 === 0 ? 'user' : 'assistant',
      content: text(`${i}.${turn}`, 85, i + turn),
    });
  }
  return { model: MODEL, messages, tools: tools(i) };
}

/** Every string the API bills in `body`: the texts a bare encoder would have to encode. */
export function billedTexts(body: ChatBody): string[] {
  const out: string[] = [];
  for (const m of body.messages) if (typeof m.content === 'string') out.push(m.content);
  for (const t of body.tools ?? []) if (t.type === 'function') out.push(JSON.stringify(t.function));
  return out;
}

const SYSTEM = text('agent', 120, 0);

/** (d) One conversation of an agent loop: its messages, in order (one is added per turn). */
export function conversation(i: number, turns: number): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (let turn = 0; turn < turns; turn++) {
    messages.push({
      role: turn % 2 === 0 ? 'user' : 'assistant',
      content: text(`c${i}.${turn}`, 60, i + turn),
    });
  }
  return messages;
}

/** The request of turn `turn` (1-based) of a conversation: the system prompt and `turn` messages. */
export function turnBody(messages: readonly ChatMessage[], turn: number): ChatBody {
  return {
    model: MODEL,
    messages: [{ role: 'system', content: SYSTEM }, ...messages.slice(0, turn)],
  };
}

// ---- canned answers (the provider that answers at once) -------------------------------------------

const encoder = new TextEncoder();
const REPLY_TOKENS = 20;
const STREAM_TOKENS = 500;

function completion(promptTokens: number): string {
  return JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-4o-mini-2024-07-18',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: ' hello'.repeat(REPLY_TOKENS), refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: REPLY_TOKENS,
      total_tokens: promptTokens + REPLY_TOKENS,
    },
  });
}

function sse(withUsage: boolean): Uint8Array {
  const base = {
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-4o-mini-2024-07-18',
  };
  const extra = withUsage ? { usage: null } : {};
  const lines: string[] = [];
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    lines.push(
      `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], ...extra })}\n\n`,
    );
  chunk({ role: 'assistant', content: '' }, null);
  for (let i = 0; i < STREAM_TOKENS; i++) chunk({ content: ' hello' }, null);
  chunk({}, 'stop');
  if (withUsage) {
    const usage = {
      prompt_tokens: 20,
      completion_tokens: STREAM_TOKENS,
      total_tokens: 20 + STREAM_TOKENS,
    };
    lines.push(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  }
  lines.push('data: [DONE]\n\n');
  return encoder.encode(lines.join(''));
}

const JSON_BODY = encoder.encode(completion(1000));
const SSE_PLAIN = sse(false);
const SSE_USAGE = sse(true);

/**
 * The SDK's `fetch` option for a provider that answers at once: a canned completion (20 tokens) or
 * a canned stream (500 one-token chunks, with the usage chunk when the request asks for it). The
 * request body is parsed, as any server would, on both sides alike.
 */
export async function cannedFetch(
  _url: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  const body = JSON.parse(String(init?.body ?? '{}')) as {
    stream?: boolean;
    stream_options?: { include_usage?: boolean };
  };
  if (body.stream) {
    return new Response(body.stream_options?.include_usage ? SSE_USAGE : SSE_PLAIN, {
      headers: { 'content-type': 'text/event-stream' },
    });
  }
  return new Response(JSON_BODY, { headers: { 'content-type': 'application/json' } });
}

/** Header asking the fake server for a 500-token reply. */
export const STREAM_REPLY_HEADERS = { 'x-fake-reply-tokens': String(STREAM_TOKENS) };
