import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { countChatTokens, countResponsesInput } from '../../../../lib/engine/index.js';

// A small OpenAI-compatible provider written for these tests, independent of the testing kit's
// fake: a reasoning model bills its hidden reasoning tokens as output before the first visible
// byte, then one visible token per chunk, and stops billing when the client goes away. It tallies
// what it billed. It can leave `usage` out of plain replies, as some compatible servers do.

export interface ReasoningProviderOptions {
  /** Hidden reasoning tokens billed before the first visible one (capped by the request's cap). */
  reasoning: number;
  /** Visible tokens of a full reply. */
  visible: number;
  /** Leave `usage` out of plain (non-streamed) replies. */
  omitUsage?: boolean;
}

export interface ReasoningProvider {
  readonly baseURL: string;
  /** Tokens billed so far: prompt + reasoning + visible tokens written. */
  billed: number;
  /** Bodies of the requests received. */
  readonly requests: Record<string, unknown>[];
  /** Resolves once every response has ended (the client went away or the reply was complete). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export async function startReasoningProvider(
  options: ReasoningProviderOptions,
): Promise<ReasoningProvider> {
  const open = new Set<Promise<void>>();
  const provider = {
    baseURL: '',
    billed: 0,
    requests: [] as Record<string, unknown>[],
    settled: async () => {
      while (open.size > 0) await Promise.all(open);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    const done = handle(req, res).catch(() => {});
    open.add(done);
    void done.finally(() => open.delete(done));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const body = JSON.parse(raw) as Record<string, unknown>;
    provider.requests.push(body);
    const chat = req.url?.endsWith('/chat/completions') ?? false;
    const prompt = chat
      ? countChatTokens(body as never)
      : countResponsesInput({ model: body.model, input: body.input } as never);
    const cap = Number(chat ? body.max_completion_tokens : body.max_output_tokens) || Infinity;
    const reasoning = Math.min(options.reasoning, cap);
    const visible = Math.max(0, Math.min(options.visible, cap - reasoning));
    // The model has read the prompt and reasoned before it writes anything.
    provider.billed += prompt + reasoning;
    const usage = (output: number) =>
      chat
        ? {
            prompt_tokens: prompt,
            completion_tokens: output,
            total_tokens: prompt + output,
            completion_tokens_details: { reasoning_tokens: reasoning },
          }
        : {
            input_tokens: prompt,
            output_tokens: output,
            total_tokens: prompt + output,
            output_tokens_details: { reasoning_tokens: reasoning },
          };
    if (body.stream !== true) {
      provider.billed += visible;
      const text = ' x'.repeat(visible);
      const reply = chat
        ? {
            id: 'c1',
            object: 'chat.completion',
            model: body.model,
            choices: [
              { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' },
            ],
          }
        : {
            id: 'r1',
            object: 'response',
            model: body.model,
            status: 'completed',
            output: [
              { type: 'message', role: 'assistant', content: [{ type: 'output_text', text }] },
            ],
          };
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify(options.omitUsage ? reply : { ...reply, usage: usage(reasoning + visible) }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let gone = false;
    res.on('close', () => (gone = true));
    const send = (event: unknown) => res.write(`data: ${JSON.stringify(event)}\n\n`);
    for (let i = 0; i < visible && !gone; i++) {
      provider.billed += 1;
      send(
        chat
          ? {
              id: 'c1',
              object: 'chat.completion.chunk',
              model: body.model,
              choices: [{ index: 0, delta: { content: ' x' } }],
            }
          : { type: 'response.output_text.delta', output_index: 0, content_index: 0, delta: ' x' },
      );
      // Let the client read (and leave) between chunks, as a real stream would.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    if (gone) return;
    send(
      chat
        ? {
            id: 'c1',
            object: 'chat.completion.chunk',
            model: body.model,
            choices: [],
            usage: usage(reasoning + visible),
          }
        : {
            type: 'response.completed',
            response: {
              id: 'r1',
              status: 'completed',
              model: body.model,
              usage: usage(reasoning + visible),
            },
          },
    );
    if (chat) res.write('data: [DONE]\n\n');
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  provider.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return provider;
}
