import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { startFakeOpenAI, type FakeOpenAIServer } from '../lib/testing/index.js';
import { AppModule } from './app.module.js';
import type { OpenAIConnection } from './sample.config.js';

/** A running sample app. */
export interface SampleApp {
  app: INestApplication;
  url: string;
  /** The embedded fake OpenAI server, when no API key was given. */
  fake?: FakeOpenAIServer;
  close(): Promise<void>;
}

/**
 * Starts the sample on `port` (0 picks a free one). Without `OPENAI_API_KEY` it starts the
 * testing kit's fake OpenAI server on loopback, so it needs no key and no network.
 */
export async function startSample(
  options: {
    port?: number;
    host?: string;
    quiet?: boolean;
    /** Ignore OPENAI_API_KEY. */ fake?: boolean;
  } = {},
): Promise<SampleApp> {
  const apiKey = options.fake ? undefined : process.env.OPENAI_API_KEY;
  let fake: FakeOpenAIServer | undefined;
  let connection: OpenAIConnection;
  if (apiKey) {
    connection = { apiKey, baseURL: process.env.OPENAI_BASE_URL, description: 'the OpenAI API' };
  } else {
    fake = await startFakeOpenAI({ replyTokens: 200 });
    connection = {
      apiKey: 'sample',
      baseURL: fake.baseURL,
      description: `an embedded fake OpenAI server at ${fake.baseURL} (no OPENAI_API_KEY set)`,
    };
  }
  // Nest's start-up chatter is held back so the first line says where the app listens.
  const app = await NestFactory.create(AppModule.register(connection), {
    logger: options.quiet ? false : ['error', 'warn', 'log'],
    bufferLogs: true,
    autoFlushLogs: false,
  });
  app.enableShutdownHooks();
  await app.listen(options.port ?? 3000, options.host ?? '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', 'localhost');
  if (!options.quiet) {
    console.log(`Tokencap sample listening on ${url} — LLM calls go to ${connection.description}`);
    app.flushLogs();
  }
  return {
    app,
    url,
    fake,
    async close() {
      await app.close();
      await fake?.close();
    },
  };
}
