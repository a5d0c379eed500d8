import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import type { TokencapEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import { TokencapConfigError } from '../../lib/errors.js';
import { RedisEventRelay, RedisLedgerStore } from '../../lib/redis/index.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

const available = await redisAvailable('the Redis event relay tests');

/** One replica: its own connections, store, ledger and relay. */
async function replica(prefix: string, channel: string) {
  const client = new Redis(REDIS_URL);
  const store = new RedisLedgerStore({ client, prefix });
  const ledger = new Ledger({ store });
  const events: TokencapEvent[] = [];
  ledger.events$.subscribe((e) => events.push(e));
  const relay = new RedisEventRelay({ publisher: client, channel });
  await relay.attach(ledger);
  return {
    client,
    ledger,
    events,
    relay,
    async close() {
      await relay.close();
      await ledger.close();
      await client.quit();
    },
  };
}

const crossings = (events: TokencapEvent[]) =>
  events
    .filter((e) => e.type === 'threshold' || e.type === 'exhausted')
    .map((e) => (e.type === 'threshold' ? `${e.key}@${e.threshold}` : `${e.key}@limit`));

describe.skipIf(!available)('RedisEventRelay', () => {
  const prefix = uniquePrefix('relay');
  let channel: string;
  let a: Awaited<ReturnType<typeof replica>>;
  let b: Awaited<ReturnType<typeof replica>>;

  beforeEach(async () => {
    channel = `tokencap-test:events:${randomUUID()}`;
    a = await replica(prefix, channel);
    b = await replica(prefix, channel);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    const cleaner = new Redis(REDIS_URL);
    await deleteByPrefix(cleaner, prefix);
    await cleaner.quit();
  });

  it('shows a threshold crossed on A once on B, and once (not twice) on A', async () => {
    const session = defineBudget({ scope: 'session', key: randomUUID(), limit: 1_000 });
    const r = await a.ledger.reserve([session], { base: { tokens: 850 } });
    await r.commit({ tokens: 850 });
    await vi.waitFor(() => expect(crossings(b.events)).toEqual([`${session.key}@0.8`]));
    // Let any duplicate arrive before judging there is none.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(crossings(a.events)).toEqual([`${session.key}@0.8`]);
    expect(crossings(b.events)).toEqual([`${session.key}@0.8`]);
    // B's copy is A's event, marked relayed (A's own is not).
    const onA = a.events.find((e) => e.type === 'threshold');
    expect(onA).not.toHaveProperty('relayed');
    expect(b.events.find((e) => e.type === 'threshold')).toEqual({ ...onA, relayed: true });
    // Usage is not relayed by default: B only sees its own.
    expect(b.events.filter((e) => e.type === 'usage')).toEqual([]);

    // B's own commit crosses 0.9 (the store fires each threshold once across replicas).
    const r2 = await b.ledger.reserve([session], { base: { tokens: 150 } });
    await r2.commit({ tokens: 150 });
    await vi.waitFor(() => expect(crossings(a.events)).toHaveLength(3));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const expected = [`${session.key}@0.8`, `${session.key}@0.9`, `${session.key}@limit`];
    expect(crossings(a.events)).toEqual(expected);
    expect(crossings(b.events)).toEqual(expected);
  });

  it('relays the types it is given, ignores foreign and malformed messages, and stops on close', async () => {
    const pub = new Redis(REDIS_URL);
    const sub = pub.duplicate();
    const ledger = new Ledger();
    const seen: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => seen.push(e));
    const relay = new RedisEventRelay({
      publisher: pub,
      subscriber: sub,
      channel,
      types: ['refused', 'usage'],
    });
    await relay.attach(ledger);
    const usage = {
      type: 'usage',
      scope: 's',
      key: 'k',
      at: 1,
      dimension: 'tokens',
      limit: 1,
      used: 1,
      reserved: 0,
      remaining: 0,
      dimensions: {},
    };
    await pub.publish(channel, 'not json');
    await pub.publish(
      channel,
      JSON.stringify({
        v: 1,
        origin: 'other',
        event: { type: 'threshold', scope: 's', key: 'k', at: 1 },
      }),
    );
    await pub.publish(
      channel,
      JSON.stringify({ v: 1, origin: 'other', event: { type: 'usage', scope: 's' } }),
    );
    await pub.publish(channel, JSON.stringify({ v: 2, origin: 'other', event: usage }));
    await pub.publish(channel, JSON.stringify({ v: 1, origin: relay.origin, event: usage }));
    await pub.publish(channel, JSON.stringify({ v: 1, origin: 'other', event: usage }));
    await vi.waitFor(() => expect(seen).toEqual([{ ...usage, relayed: true }]));
    expect(() => relay.attach(new Ledger())).toThrow(TokencapConfigError);
    await relay.close();
    // A subscriber it was given stays open (only unsubscribed); the relay no longer re-emits.
    expect(sub.status).toBe('ready');
    await pub.publish(channel, JSON.stringify({ v: 1, origin: 'other', event: usage }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toHaveLength(1);
    await sub.quit();
    await pub.quit();
    await ledger.close();
  });

  it('refuses a subscriber that is the publisher, and unknown event types', () => {
    expect(() => new RedisEventRelay({ publisher: a.client, subscriber: a.client })).toThrow(
      /its own connection/,
    );
    expect(
      () => new RedisEventRelay({ publisher: a.client, types: ['store-error' as never] }),
    ).toThrow(/Invalid event type/);
    expect(() => new RedisEventRelay({ publisher: a.client, logger: {} as never })).toThrow(
      'Invalid logger option of RedisEventRelay: expected an object with a warn(message) method.',
    );
  });

  it('opens its subscriber connection on attach, so a relay never attached keeps no process alive', async () => {
    const duplicate = vi.spyOn(a.client, 'duplicate');
    const unused = new RedisEventRelay({ publisher: a.client });
    await unused.close();
    expect(duplicate).not.toHaveBeenCalled();
    const ledger = new Ledger({ store: new RedisLedgerStore({ client: a.client, prefix }) });
    const used = new RedisEventRelay({ publisher: a.client });
    await used.attach(ledger);
    expect(duplicate).toHaveBeenCalledTimes(1);
    await used.close();
    await ledger.close();
    duplicate.mockRestore();
  });
});
