import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  type FakeAnthropicServer,
  type FakeOpenAIServer,
  startFakeAnthropic,
  startFakeOpenAI,
} from '../lib/testing/index.js';
import { AppModule } from './app.module.js';
import { type ProviderConnection, SAMPLE_PROVIDERS, type SampleProvider } from './sample.config.js';

/** A running sample app. */
export interface SampleApp {
  app: INestApplication;
  url: string;
  /** The embedded fake OpenAI server, when no OpenAI API key was given. */
  fake?: FakeOpenAIServer;
  /** The embedded fake Anthropic server, when no Anthropic API key was given. */
  fakeAnthropic?: FakeAnthropicServer;
  close(): Promise<void>;
}

/**
 * Starts the sample on `port` (0 picks a free one). Without `OPENAI_API_KEY` it starts the testing
 * kit's fake OpenAI server on loopback, without `ANTHROPIC_API_KEY` the fake Anthropic server, so
 * it needs no key and no network. The chat runs on OpenAI unless a request asks for
 * `?provider=anthropic` or `TOKENCAP_SAMPLE_PROVIDER=anthropic` (or `options.provider`) says so.
 * @throws Error naming the value when the provider setting is neither `openai` nor `anthropic`.
 */
export async function startSample(
  options: {
    port?: number;
    host?: string;
    quiet?: boolean;
    /** Ignore OPENAI_API_KEY and ANTHROPIC_API_KEY. */ fake?: boolean;
    /** The chat's default provider. @default TOKENCAP_SAMPLE_PROVIDER, else 'openai' */
    provider?: SampleProvider;
  } = {},
): Promise<SampleApp> {
  const defaultProvider = options.provider ?? process.env.TOKENCAP_SAMPLE_PROVIDER ?? 'openai';
  if (!SAMPLE_PROVIDERS.includes(defaultProvider as SampleProvider)) {
    throw new Error(
      `Invalid TOKENCAP_SAMPLE_PROVIDER ${JSON.stringify(defaultProvider.slice(0, 64))}: expected 'openai' or 'anthropic'.`,
    );
  }
  let fake: FakeOpenAIServer | undefined;
  let fakeAnthropic: FakeAnthropicServer | undefined;
  let openai: ProviderConnection;
  let anthropic: ProviderConnection;
  const openaiKey = options.fake ? undefined : process.env.OPENAI_API_KEY;
  if (openaiKey) {
    openai = {
      apiKey: openaiKey,
      baseURL: process.env.OPENAI_BASE_URL,
      description: 'the OpenAI API',
    };
  } else {
    fake = await startFakeOpenAI({ replyTokens: 200, replyStyle: 'prose' });
    openai = {
      apiKey: 'sample',
      baseURL: fake.baseURL,
      description: `an embedded fake OpenAI server at ${fake.baseURL} (no OPENAI_API_KEY set)`,
    };
  }
  const anthropicKey = options.fake ? undefined : process.env.ANTHROPIC_API_KEY;
  if (anthropicKey) {
    anthropic = {
      apiKey: anthropicKey,
      baseURL: process.env.ANTHROPIC_BASE_URL,
      description: 'the Anthropic API',
    };
  } else {
    fakeAnthropic = await startFakeAnthropic({ replyTokens: 200 });
    anthropic = {
      apiKey: 'sample',
      baseURL: fakeAnthropic.baseURL,
      description: `an embedded fake Anthropic server at ${fakeAnthropic.baseURL} (no ANTHROPIC_API_KEY set)`,
    };
  }
  const connections = { openai, anthropic, defaultProvider: defaultProvider as SampleProvider };
  // Nest's start-up chatter is held back so the first line says where the app listens.
  const app = await NestFactory.create(AppModule.register(connections), {
    logger: options.quiet ? false : ['error', 'warn', 'log'],
    bufferLogs: true,
    autoFlushLogs: false,
  });
  app.enableShutdownHooks();
  await app.listen(options.port ?? 3000, options.host ?? '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', 'localhost');
  if (!options.quiet) {
    console.log(
      `Tokencap sample listening on ${url} — the chat uses ${connections.defaultProvider} by default ` +
        `(?provider=openai|anthropic); OpenAI calls go to ${openai.description}, Anthropic calls go to ${anthropic.description}`,
    );
    app.flushLogs();
  }
  return {
    app,
    url,
    fake,
    fakeAnthropic,
    async close() {
      await app.close();
      await fake?.close();
      await fakeAnthropic?.close();
    },
  };
}
