import { type DynamicModule, Module } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import OpenAI from 'openai';
import { TokencapModule, wrapOpenAI } from '../lib/index.js';
import { ChatController } from './chat.controller.js';
import { EventsController } from './events.controller.js';
import { PageController } from './page.controller.js';
import { ResearchAgent } from './research.agent.js';
import type { OpenAIConnection } from './sample.config.js';

/** The sample app: a budgeted chat, a runaway research agent, budget events over SSE, and a page. */
@Module({})
export class AppModule {
  static register(connection: OpenAIConnection): DynamicModule {
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
              new OpenAI({ apiKey: connection.apiKey, baseURL: connection.baseURL, maxRetries: 0 }),
            ),
        },
        ResearchAgent,
      ],
    };
  }
}
