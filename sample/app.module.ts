import Anthropic from '@anthropic-ai/sdk';
import { ChatAnthropic } from '@langchain/anthropic';
import { type DynamicModule, Module } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import OpenAI from 'openai';
import { TokencapModule, wrapOpenAI } from '../lib/index.js';
import { wrapAnthropic } from '../lib/providers/anthropic/index.js';
import { ChatController, DEFAULT_PROVIDER } from './chat.controller.js';
import { EventsController } from './events.controller.js';
import { PageController } from './page.controller.js';
import { RESEARCH_MODEL, ResearchAgent } from './research.agent.js';
import { CLAUDE_CHAT_MODEL, type SampleConnections } from './sample.config.js';

/** The sample app: a budgeted chat, a runaway research agent, budget events over SSE, and a page. */
@Module({})
export class AppModule {
  static register(connections: SampleConnections): DynamicModule {
    const { openai, anthropic } = connections;
    return {
      module: AppModule,
      imports: [
        TokencapModule.forRoot({
          scopes: {
            session: (req?: IncomingMessage) => req?.headers['x-session-id'] as string | undefined,
          },
        }),
      ],
      controllers: [PageController, ChatController, EventsController],
      providers: [
        {
          provide: OpenAI,
          useFactory: () =>
            wrapOpenAI(
              new OpenAI({ apiKey: openai.apiKey, baseURL: openai.baseURL, maxRetries: 0 }),
            ),
        },
        {
          provide: Anthropic,
          useFactory: () =>
            wrapAnthropic(
              new Anthropic({
                apiKey: anthropic.apiKey,
                baseURL: anthropic.baseURL,
                maxRetries: 0,
              }),
            ),
        },
        {
          // The research agent runs on LangChain; @langchain/anthropic runs on Node 20 (the
          // sample's floor), where @langchain/openai 1.6 needs Node 22.
          provide: RESEARCH_MODEL,
          useFactory: () =>
            new ChatAnthropic({
              model: CLAUDE_CHAT_MODEL,
              apiKey: anthropic.apiKey,
              maxRetries: 0,
              ...(anthropic.baseURL ? { clientOptions: { baseURL: anthropic.baseURL } } : {}),
            }),
        },
        { provide: DEFAULT_PROVIDER, useValue: connections.defaultProvider },
        ResearchAgent,
      ],
    };
  }
}
