import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import type { TokencapEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import { BudgetExceededError } from '../../lib/errors.js';
import { RedisEventRelay, RedisLedgerStore } from '../../lib/redis/index.js';
import { total, useTelemetry } from '../unit/otel/otel.harness.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

// Replicas relaying per-call events (refused, usage) each see every replica's events; the
// instrumentation of each must record only its own, or metrics summed over replicas are N× too high.

const available = await redisAvailable('the OpenTelemetry relay tests');

describe.skipIf(!available)('instrumentTokencap with RedisEventRelay across replicas', () => {
  const telemetry = useTelemetry();
  const prefix = uniquePrefix('otel-relay');
  const closers: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    const cleaner = new Redis(REDIS_URL);
    await deleteByPrefix(cleaner, prefix);
    await cleaner.quit();
  });

  async function replica(channel: string) {
    const client = new Redis(REDIS_URL);
    const ledger = new Ledger({ store: new RedisLedgerStore({ client, prefix }) });
    const events: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => events.push(e));
    const relay = new RedisEventRelay({
      publisher: client,
      channel,
      types: ['threshold', 'exhausted', 'forecast', 'refused', 'usage', 'degraded'],
    });
    await relay.attach(ledger);
    // Each replica's own instrumentation; they share one meter provider, so its points are the
    // sum over replicas a dashboard shows.
    telemetry.instrument(ledger);
    closers.push(async () => {
      await relay.close();
      await ledger.close();
      await client.quit();
    });
    return { ledger, events };
  }

  it('counts each refusal and commit once over replicas, and still relays crossings once', async () => {
    const channel = `tokencap-test:events:${randomUUID()}`;
    const replicas = [await replica(channel), await replica(channel)];
    const budget = defineBudget({ scope: 'user', key: randomUUID(), limit: 1_000 });
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      const { ledger } = replicas[i % 2];
      try {
        const r = await ledger.reserve([budget], { base: { tokens: 100 } });
        await r.commit({ tokens: 100 });
      } catch (error) {
        if (!(error instanceof BudgetExceededError)) throw error;
        refused++;
      }
    }
    expect(refused).toBe(10);
    // Each replica sees all 10 refusals and 10 commits: its own, and the other's relayed.
    const count = (events: TokencapEvent[], type: string, relayed: boolean) =>
      events.filter(
        (e) => e.type === type && (e.type !== 'store-error' && e.relayed === true) === relayed,
      ).length;
    for (const { events } of replicas) {
      await vi.waitFor(() => {
        expect(count(events, 'refused', false) + count(events, 'refused', true)).toBe(10);
        expect(count(events, 'usage', false) + count(events, 'usage', true)).toBe(10);
      });
      expect(count(events, 'refused', false)).toBe(5);
      expect(count(events, 'usage', false)).toBe(5);
    }

    expect(total(await telemetry.points('tokencap.refusals'))).toBe(10);
    const usage = await telemetry.points('tokencap.budget.usage');
    expect(usage.reduce((sum, p) => sum + p.count, 0)).toBe(10);
    expect(usage.reduce((sum, p) => sum + p.value, 0)).toBe(
      [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000].reduce((a, b) => a + b),
    );

    // Crossings fire once across replicas and reach the other one marked relayed.
    const crossings = (events: TokencapEvent[]) =>
      events
        .filter((e) => e.type === 'threshold' || e.type === 'exhausted')
        .map((e) => (e.type === 'threshold' ? e.threshold : 'exhausted'));
    for (const { events } of replicas) {
      await vi.waitFor(() => expect(crossings(events)).toEqual([0.8, 0.9, 'exhausted']));
    }
    // Each crossing is its committing replica's own event and the other's relayed one.
    const relayedCrossings = replicas.flatMap(({ events }) =>
      events.filter((e) => (e.type === 'threshold' || e.type === 'exhausted') && e.relayed),
    );
    expect(relayedCrossings).toHaveLength(3);
  });
});
