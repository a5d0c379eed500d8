import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Body,
  Controller,
  type DynamicModule,
  HttpCode,
  Module,
  Post,
  Res,
  Sse,
} from '@nestjs/common';
import OpenAI from 'openai';
import { Observable } from 'rxjs';
import { defineBudget } from '../../../lib/core/budget.js';
import type { Duration } from '../../../lib/core/duration.js';
import type { LedgerSnapshot, LedgerStore } from '../../../lib/core/ledger-store.interface.js';
import { Budget } from '../../../lib/nest/budget.decorator.js';
import { TokencapModule } from '../../../lib/nest/tokencap.module.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';

export const MODEL = 'gpt-4o';
export const SESSION_HEADER = 'x-session-id';
export const USER_HEADER = 'x-user-id';

/** Limits of the app's budgets, in tokens. */
export interface LlmAppLimits {
  session: number;
  user: number;
  global: number;
}

interface AskBody {
  /** Session id for clients that cannot send it as a header (newlines, very long ids). */
  session?: unknown;
  message?: unknown;
}

/**
 * A Nest app whose handlers call a wrapped `openai` client pointed at the fake server, with the
 * budget layering docs/reliability.md recommends: `global` ⊃ `user` ⊃ `session`. The session id
 * comes from the `x-session-id` header, else from the body's `session` field; the user id from
 * `x-user-id`. Limits are parameters, so the controller is declared per module.
 */
export function llmAppModule(options: {
  baseURL: string;
  store?: LedgerStore;
  limits?: Partial<LlmAppLimits>;
}): DynamicModule {
  const limits: LlmAppLimits = {
    session: 10_000,
    user: 50_000,
    global: 1_000_000,
    ...options.limits,
  };
  const openai = wrapOpenAI(
    new OpenAI({ apiKey: 'test', baseURL: options.baseURL, maxRetries: 0 }),
  );
  // A ttl on the client-keyed budget, as docs/reliability.md recommends: rotated ids idle out.
  const sessionBudget = Budget('session', limits.session, { ttl: '1h' });
  const userBudget = Budget('user', limits.user, { window: '1d' });
  const globalBudget = Budget('global', limits.global, { window: '1d' });

  const messagesOf = (body: AskBody) => [
    { role: 'user' as const, content: typeof body?.message === 'string' ? body.message : 'Hi.' },
  ];

  @Controller()
  class LlmController {
    /** One chat call inside global ⊃ user ⊃ session; the client waits for the whole answer. */
    @Post('ask')
    @HttpCode(200)
    @globalBudget
    @userBudget
    @sessionBudget
    async ask(@Body() body: AskBody) {
      const completion = await openai.chat.completions.create({
        model: MODEL,
        messages: messagesOf(body),
        max_tokens: 50,
      });
      return { reply: completion.choices[0]?.message.content, usage: completion.usage };
    }

    /**
     * Like `ask`, but forwards a client disconnect to the call as an AbortSignal, so a request
     * the client gave up on is aborted (and released) instead of completed and charged.
     */
    @Post('ask-abortable')
    @HttpCode(200)
    @sessionBudget
    async askAbortable(@Body() body: AskBody, @Res({ passthrough: true }) res: ServerResponse) {
      const controller = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) controller.abort();
      });
      const completion = await openai.chat.completions.create(
        { model: MODEL, messages: messagesOf(body), max_tokens: 50 },
        { signal: controller.signal },
      );
      return { usage: completion.usage };
    }

    /** Server-sent events relaying a stream; unsubscribing (client gone) aborts the stream. */
    @Sse('stream')
    @sessionBudget
    stream(): Observable<{ data: string }> {
      return new Observable((subscriber) => {
        let upstream: { controller: AbortController } | undefined;
        let closed = false;
        void (async () => {
          const stream = await openai.chat.completions.create({
            model: MODEL,
            messages: messagesOf({}),
            max_tokens: 400,
            stream: true,
          });
          upstream = stream;
          if (closed) stream.controller.abort();
          for await (const chunk of stream) {
            subscriber.next({ data: chunk.choices[0]?.delta.content ?? '' });
          }
          subscriber.complete();
        })().catch((error: unknown) => subscriber.error(error));
        return () => {
          closed = true;
          upstream?.controller.abort();
        };
      });
    }
  }

  @Module({})
  class LlmAppModule {}

  return {
    module: LlmAppModule,
    imports: [
      TokencapModule.forRoot({
        store: options.store,
        scopes: {
          session: (req: IncomingMessage & { body?: AskBody }) =>
            (req?.headers[SESSION_HEADER] as string | undefined) ??
            (typeof req?.body?.session === 'string' ? req.body.session : undefined),
          user: (req: IncomingMessage) =>
            (req?.headers[USER_HEADER] as string | undefined) ?? 'anonymous',
        },
      }),
    ],
    controllers: [LlmController],
  };
}

/**
 * The store's snapshot of one budget (reads it without opening a request). A ledger is identified
 * by scope, key and window, so name the window the app's budget has (`user` and `global`: '1d').
 */
export async function snapshotOf(
  store: LedgerStore,
  scope: string,
  key: string,
  window?: Duration,
): Promise<LedgerSnapshot> {
  const budget = defineBudget({ scope, key, limit: 1, ...(window && { window }) });
  const [snapshot] = await store.snapshot([budget], Date.now());
  return snapshot;
}
