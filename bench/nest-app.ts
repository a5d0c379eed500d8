// A Nest application context for the latency benchmark: the same provider method with and without
// `@Budget`, the first calling a wrapped client, the second the raw one. Keys of the `session`
// scope come from an AsyncLocalStorage the benchmark sets around each call (outside an HTTP
// request a scope resolver gets no request, so it reads the key from elsewhere, as a job would).

import 'reflect-metadata';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Inject, Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type OpenAI from 'openai';
import { Budget, TokencapModule } from '../lib/index.js';
import type { ChatBody } from './prompts.js';

export const sessions = new AsyncLocalStorage<string>();

const RAW = Symbol('raw client');
const WRAPPED = Symbol('wrapped client');

async function consume(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const chunk of stream) void chunk;
}

/** What both services offer. */
export interface ChatService {
  create(body: ChatBody): Promise<unknown>;
  stream(body: ChatBody): Promise<void>;
}

@Injectable()
class PlainChat implements ChatService {
  constructor(@Inject(RAW) private readonly client: OpenAI) {}

  async create(body: ChatBody): Promise<unknown> {
    return this.client.chat.completions.create(body);
  }

  async stream(body: ChatBody): Promise<void> {
    await consume(await this.client.chat.completions.create({ ...body, stream: true }));
  }
}

@Injectable()
class BudgetedChat implements ChatService {
  constructor(@Inject(WRAPPED) private readonly client: OpenAI) {}

  @Budget('session', 1e12, { window: '1h' })
  async create(body: ChatBody): Promise<unknown> {
    return this.client.chat.completions.create(body);
  }

  @Budget('session', 1e12, { window: '1h' })
  async stream(body: ChatBody): Promise<void> {
    await consume(await this.client.chat.completions.create({ ...body, stream: true }));
  }
}

/** Boots the app context; `close()` shuts it down. */
export async function startNestApp(
  raw: OpenAI,
  wrapped: OpenAI,
): Promise<{ plain: ChatService; budgeted: ChatService; app: INestApplicationContext }> {
  @Module({
    imports: [TokencapModule.forRoot({ scopes: { session: () => sessions.getStore() } })],
    providers: [
      { provide: RAW, useValue: raw },
      { provide: WRAPPED, useValue: wrapped },
      PlainChat,
      BudgetedChat,
    ],
  })
  class BenchModule {}

  const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  return { plain: app.get(PlainChat), budgeted: app.get(BudgetedChat), app };
}
