import type { AddressInfo, Server } from 'node:net';
import { Controller, type INestApplication, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  type ClientProxy,
  ClientProxyFactory,
  MessagePattern,
  type MicroserviceOptions,
  Transport,
} from '@nestjs/microservices';
import OpenAI from 'openai';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Budget } from '../../../lib/nest/budget.decorator.js';
import { TokencapModule } from '../../../lib/nest/tokencap.module.js';
import {
  agentSteps,
  LIMIT,
  openAIProvider,
  STEP,
  useFakeOpenAI,
} from '../../fixtures/openai.fixture.js';

const fake = useFakeOpenAI();

@Controller()
class ChatRpc {
  constructor(private readonly openai: OpenAI) {}

  @MessagePattern('loop')
  @Budget('session', LIMIT)
  async loop(): Promise<string[]> {
    const out: string[] = [];
    for await (const item of agentSteps(this.openai)) out.push(item);
    return out;
  }
}

@Module({
  imports: [
    TokencapModule.forRoot({
      scopes: { session: (message: { session?: string } | undefined) => message?.session },
    }),
  ],
  controllers: [ChatRpc],
  providers: [openAIProvider(fake)],
})
class HybridModule {}

/** Keeps what Nest logs at error level. */
class ErrorLog implements LoggerService {
  readonly errors: string[] = [];
  log(): void {}
  warn(): void {}
  error(message: unknown): void {
    this.errors.push(String(message));
  }
}

describe('a hybrid app (HTTP app + connectMicroservice over TCP)', () => {
  let app: INestApplication | undefined;
  let client: ClientProxy | undefined;
  afterEach(async () => {
    await client?.close();
    await app?.close();
    app = client = undefined;
  });

  async function start(inheritAppConfig: boolean, logger: LoggerService): Promise<ClientProxy> {
    app = await NestFactory.create(HybridModule, { logger });
    const microservice = app.connectMicroservice<MicroserviceOptions>(
      { transport: Transport.TCP, options: { host: '127.0.0.1', port: 0 } },
      { inheritAppConfig },
    );
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    const { port } = microservice.unwrap<Server>().address() as AddressInfo;
    client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
    });
    await client.connect();
    return client;
  }

  it('with inheritAppConfig: true, @Budget on a @MessagePattern handler refuses the fourth step', async () => {
    const rpc = await start(true, new ErrorLog());
    await expect(firstValueFrom(rpc.send('loop', { session: 'alice' }))).rejects.toMatchObject({
      statusCode: 429,
      scope: 'session',
      used: 3 * STEP,
    });
    expect(fake.server.tally).toMatchObject({ requests: 3, totalTokens: 3 * STEP });
  });

  it('without inheritAppConfig, the handler fails closed before any provider call, and the log says how to fix it', async () => {
    const log = new ErrorLog();
    const rpc = await start(false, log);
    for (let i = 0; i < 3; i++) {
      await expect(firstValueFrom(rpc.send('loop', { session: 'alice' }))).rejects.toEqual({
        status: 'error',
        message: 'Internal server error',
      });
    }
    expect(fake.server.tally).toMatchObject({ requests: 0, totalTokens: 0 });
    expect(log.errors).toHaveLength(3);
    expect(log.errors[0]).toBe(
      "TokencapConfigError: @Budget on ChatRpc.loop: the handler ran without Tokencap's interceptor, so its budget " +
        'cannot be applied. In a hybrid app, connect the microservice with ' +
        'app.connectMicroservice(options, { inheritAppConfig: true }).',
    );
  });
});
