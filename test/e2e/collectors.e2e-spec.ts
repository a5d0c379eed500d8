import { Injectable, type ModuleMetadata } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Cron, ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import {
  agentSteps,
  eventLog,
  LIMIT,
  openAIProvider,
  runawayEvents,
  STEP,
  useFakeOpenAI,
} from '../fixtures/openai.fixture.js';

const fake = useFakeOpenAI();

/** Jobs collected at startup by other modules, each a runaway loop under its own task budget. */
@Injectable()
class Jobs {
  readonly outcomes: string[] = [];

  constructor(private readonly openai: OpenAI) {}

  /** @Cron applied after @Budget (written above it). */
  @Cron('0 0 1 1 *', { name: 'cron-above' })
  @Budget('task', LIMIT)
  async cronAbove(): Promise<string> {
    return this.loop('cron-above');
  }

  /** @Cron applied before @Budget (written below it). */
  @Budget('task', LIMIT)
  @Cron('0 0 1 1 *', { name: 'cron-below' })
  async cronBelow(): Promise<string> {
    return this.loop('cron-below');
  }

  @OnEvent('report.requested')
  @Budget('task', LIMIT)
  async onReport(): Promise<string> {
    return this.loop('event');
  }

  private async loop(name: string): Promise<string> {
    let steps = 0;
    try {
      for await (const _ of agentSteps(this.openai)) steps++;
      this.outcomes.push(`${name}: ${steps} steps, never refused`);
    } catch (error) {
      this.outcomes.push(`${name}: ${steps} steps, then ${(error as Error).name}`);
    }
    return name;
  }
}

const ORDERS: [string, (tokencap: ModuleMetadata['imports']) => ModuleMetadata['imports']][] = [
  [
    'imported before TokencapModule',
    (tokencap) => [ScheduleModule.forRoot(), EventEmitterModule.forRoot(), ...tokencap!],
  ],
  [
    'imported after TokencapModule',
    (tokencap) => [...tokencap!, ScheduleModule.forRoot(), EventEmitterModule.forRoot()],
  ],
];

describe.each(ORDERS)('@nestjs/schedule and @nestjs/event-emitter %s', (_, imports) => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  const start = () =>
    createTestApp({
      imports: imports([TokencapModule.forRoot()]),
      providers: [openAIProvider(fake), Jobs],
    });

  it.each(['cron-above', 'cron-below'])(
    'a @Cron job (%s) runs inside its task budget',
    async (name) => {
      t = await start();
      await t.get(SchedulerRegistry).getCronJob(name).fireOnTick();
      const jobs = t.get(Jobs);
      await expect
        .poll(() => jobs.outcomes)
        .toEqual([`${name}: 3 steps, then BudgetExceededError`]);
      await fake.server.settled();
      expect(fake.server.tally.totalTokens).toBe(3 * STEP);
      expect(eventLog(t.events)).toEqual(runawayEvents(['task']));
    },
  );

  it('an @OnEvent listener runs inside its task budget', async () => {
    t = await start();
    expect(await t.get(EventEmitter2).emitAsync('report.requested')).toEqual(['event']);
    expect(t.get(Jobs).outcomes).toEqual(['event: 3 steps, then BudgetExceededError']);
    expect(fake.server.tally.totalTokens).toBe(3 * STEP);
    expect(eventLog(t.events)).toEqual(runawayEvents(['task']));
  });
});
