import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type BudgetDefinition, defineBudget } from '../../lib/core/budget.js';
import { TokencapConfigError } from '../../lib/errors.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import {
  REDIS_URL,
  deleteByPrefix,
  keysByPrefix,
  redisAvailable,
  uniquePrefix,
} from './support/redis-env.js';

const available = await redisAvailable('the Redis key and TTL tests');
const T0 = Date.now();
const GRACE = 60_000;

/** The hash tag Redis Cluster hashes: between the first `{` and the next `}`. */
function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return key.slice(open + 1, close);
}

describe.skipIf(!available)('RedisLedgerStore keys and TTLs', () => {
  const prefix = uniquePrefix('keys');
  let client: Redis;
  let n = 0;
  const budget = (def: Partial<BudgetDefinition> = {}) =>
    defineBudget({ scope: 'session', key: `k${++n}`, limit: 1_000, ...def });

  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await deleteByPrefix(client, prefix);
    await client.quit();
  });

  it('lays keys out as <prefix>{<scope>[@<window>]:<key>}:l, :z and :m, one hash slot per ledger', () => {
    const store = new RedisLedgerStore({ client, prefix: 'tokencap:' });
    const b = defineBudget({ scope: 'session', key: 'abc', limit: 10 });
    expect(store.keysOf(b)).toEqual({
      ledger: 'tokencap:{session:abc}:l',
      reservations: 'tokencap:{session:abc}:z',
      marks: 'tokencap:{session:abc}:m',
    });
    const hourly = defineBudget({ scope: 'user', key: 'u:42', limit: 10, window: '1h' });
    const daily = defineBudget({ scope: 'user', key: 'u:42', limit: 50, window: 86_400_000 });
    expect(store.keysOf(hourly).ledger).toBe('tokencap:{user@3600000ms:u:42}:l');
    expect(store.keysOf(daily).ledger).toBe('tokencap:{user@86400000ms:u:42}:l');
    // Same scope, key and window, another limit: the same ledger.
    const tighter = defineBudget({ scope: 'user', key: 'u:42', limit: 5, window: 3_600_000 });
    expect(store.keysOf(tighter)).toEqual(store.keysOf(hourly));
    const single = new RedisLedgerStore({ client, prefix: 'tokencap:', hashTag: 'single-slot' });
    expect(single.keysOf(b)).toEqual({
      ledger: 'tokencap:{all}:session:abc:l',
      reservations: 'tokencap:{all}:session:abc:z',
      marks: 'tokencap:{all}:session:abc:m',
    });
    expect(single.keysOf(hourly).ledger).toBe('tokencap:{all}:user@3600000ms:u:42:l');
    expect(new RedisLedgerStore({ client }).keysOf(b).ledger).toBe('tokencap:{session:abc}:l');
  });

  it('hashes keys holding braces, whitespace or control characters so a hostile id cannot pick the slot', async () => {
    const store = new RedisLedgerStore({ client, prefix });
    const hostile = ['}{tokencap', 'a{b}c', '{', 'x y', 'line\nbreak', '~looks-hashed'];
    const seen = new Set<string>();
    for (const key of hostile) {
      const b = defineBudget({ scope: 'session', key, limit: 100 });
      const { ledger, reservations } = store.keysOf(b);
      expect(ledger.startsWith(`${prefix}{session:~`)).toBe(true);
      expect(hashTagOf(ledger)).toMatch(/^session:~[A-Za-z0-9_-]{43}$/);
      expect(hashTagOf(reservations)).toBe(hashTagOf(ledger));
      expect(ledger.slice(prefix.length + 1).includes('{')).toBe(false);
      seen.add(ledger);
      // Same id, same ledger: the usage is really kept per hostile id.
      await store.commit({ reservationId: 'x', budgets: [b], actual: { tokens: 7 }, now: T0 });
      const again = defineBudget({ scope: 'session', key, limit: 100 });
      expect(await store.snapshot([again], T0)).toEqual([{ used: { tokens: 7 }, reserved: {} }]);
    }
    expect(seen.size).toBe(hostile.length);
  });

  it('caps key length: a key over 128 characters, or not plain ASCII, is stored as a SHA-256', async () => {
    const store = new RedisLedgerStore({ client, prefix });
    const long = 'u'.repeat(10_000);
    const b = defineBudget({ scope: 'session', key: long, limit: 100 });
    const { ledger } = store.keysOf(b);
    expect(ledger.length).toBeLessThan(prefix.length + 60);
    await store.commit({ reservationId: 'x', budgets: [b], actual: { tokens: 3 }, now: T0 });
    expect(await client.exists(ledger)).toBe(1);
    const almost = defineBudget({ scope: 'session', key: `${'u'.repeat(9_999)}v`, limit: 100 });
    expect(store.keysOf(almost).ledger).not.toBe(ledger);
    expect(
      store.keysOf(defineBudget({ scope: 'session', key: 'u'.repeat(128), limit: 1 })).ledger,
    ).toContain('u'.repeat(128));
    expect(
      store.keysOf(defineBudget({ scope: 'session', key: 'é'.repeat(65), limit: 1 })).ledger,
    ).toContain('session:~');
    expect(
      store.keysOf(defineBudget({ scope: 'session', key: 'u'.repeat(129), limit: 1 })).ledger,
    ).toMatch(/\{session:~[\w-]{43}\}:l$/);
    // One rule for both stores (lib/core/ledger-id.ts): the old per-store option is refused.
    expect(() => new RedisLedgerStore({ client, prefix, maxKeyLength: 16 } as never)).toThrow(
      /maxKeyLength option of RedisLedgerStore is gone/,
    );
  });

  it('rejects a prefix with braces and a hash tag mode it does not know, naming the option', () => {
    expect(() => new RedisLedgerStore({ client, prefix: '{tokencap}:' })).toThrow(
      TokencapConfigError,
    );
    expect(() => new RedisLedgerStore({ client, prefix: '{tokencap}:' })).toThrow(/Invalid prefix/);
    expect(() => new RedisLedgerStore({ client, hashTag: 'per-key' as never })).toThrow(
      /Invalid hashTag/,
    );
    expect(() => new RedisLedgerStore({} as never)).toThrow(/exactly one of `client`/);
    expect(() => new RedisLedgerStore({ client, url: REDIS_URL })).toThrow(
      /exactly one of `client`/,
    );
    expect(() => new RedisLedgerStore({ url: 'http://x' })).toThrow(/Invalid url/);
    expect(() => new RedisLedgerStore({ client, commandTimeout: '1 sec' as never })).toThrow(
      /commandTimeout of RedisLedgerStore/,
    );
  });

  it('sets a TTL on every key it writes: window end, ttl, reservation expiry, or idleTtl', async () => {
    const p = `${prefix}ttl:`;
    const store = new RedisLedgerStore({ client, prefix: p });
    const windowed = budget({ window: '1h' });
    const idle = budget({ ttl: '10m' });
    const lifetime = budget();
    const all = [windowed, idle, lifetime];
    const r = await store.reserve({
      reservationId: 'held',
      budgets: all,
      base: { tokens: 5 },
      now: T0,
      expiresAt: T0 + 15 * 60_000,
    });
    expect(r.ok).toBe(true);
    await store.commit({ reservationId: 'other', budgets: all, actual: { tokens: 9 }, now: T0 });
    const keys = await keysByPrefix(client, p);
    expect(keys).toHaveLength(6);
    for (const key of keys) expect(await client.pttl(key), key).toBeGreaterThan(0);

    const pttl = (b: typeof windowed, which: 'ledger' | 'reservations') =>
      client.pttl(store.keysOf(b)[which]);
    const windowEnd = T0 - (T0 % 3_600_000) + 3_600_000;
    // Held reservations keep a ledger past its window or ttl, until they lapse.
    expect(await pttl(windowed, 'ledger')).toBeGreaterThan(
      Math.max(windowEnd, T0 + 15 * 60_000) - T0 + GRACE - 5_000,
    );
    // The index outlives its last reservation by SETTLEMENT_MEMORY_MS (15 min), so a reservation
    // that lapses while its ledger is idle is still remembered as lapsed.
    expect(await pttl(windowed, 'reservations')).toBeLessThanOrEqual(30 * 60_000 + GRACE);
    expect(await pttl(windowed, 'reservations')).toBeGreaterThan(30 * 60_000);
    expect(await pttl(idle, 'ledger')).toBeLessThanOrEqual(15 * 60_000 + GRACE);
    expect(await pttl(lifetime, 'ledger')).toBeGreaterThan(29 * 86_400_000);

    await store.release({ reservationId: 'held', budgets: all, now: T0 });
    expect(await client.exists(store.keysOf(idle).reservations)).toBe(0);
    await store.commit({ reservationId: 'x', budgets: all, actual: { tokens: 1 }, now: T0 });
    expect(await pttl(idle, 'ledger')).toBeLessThanOrEqual(10 * 60_000 + GRACE);
    expect(await pttl(idle, 'ledger')).toBeGreaterThan(10 * 60_000);
    expect(await pttl(windowed, 'ledger')).toBeLessThanOrEqual(windowEnd - T0 + GRACE);
    for (const key of await keysByPrefix(client, p))
      expect(await client.pttl(key), key).toBeGreaterThan(0);

    const forever = new RedisLedgerStore({ client, prefix: p, idleTtl: false });
    const kept = budget();
    await forever.commit({ reservationId: 'x', budgets: [kept], actual: { tokens: 1 }, now: T0 });
    expect(await client.pttl(forever.keysOf(kept).ledger)).toBe(-1);
  });

  it('cleans up after itself: settled reservations leave no index, only tombstones that expire', async () => {
    const p = `${prefix}clean:`;
    const store = new RedisLedgerStore({ client, prefix: p });
    const b = budget({ ttl: '1m' });
    for (let i = 0; i < 50; i++) {
      await store.reserve({
        reservationId: `r${i}`,
        budgets: [b],
        base: { tokens: 1 },
        now: T0,
        expiresAt: T0 + 60_000,
      });
    }
    for (let i = 0; i < 50; i++)
      await store.commit({ reservationId: `r${i}`, budgets: [b], actual: { tokens: 1 }, now: T0 });
    const keys = store.keysOf(b);
    // No reservation index; the marks keep one tombstone per committed id until its reservation
    // would have lapsed (so a resent commit records once), and expire with them.
    expect(await keysByPrefix(client, p)).toEqual([keys.ledger, keys.marks].sort());
    const marks = await client.zrange(keys.marks, '0', '-1', 'WITHSCORES');
    expect(marks.length).toBe(100);
    for (let i = 0; i < marks.length; i += 2) expect(marks[i + 1]).toBe(String(T0 + 60_000));
    expect(new Set(marks.filter((_, i) => i % 2 === 0))).toEqual(
      new Set(Array.from({ length: 50 }, (_, i) => `cr${i}`)),
    );
    expect(await client.pttl(keys.marks)).toBeGreaterThan(0);
    // Born, evict-at, used, and the commits counted for the burn rate.
    expect(Object.keys(await client.hgetall(store.keysOf(b).ledger)).sort()).toEqual([
      'b',
      'ev',
      'n',
      'u1',
    ]);
  });

  it('closes a client it created from url, and never one it was given', async () => {
    const owned = new RedisLedgerStore({ url: REDIS_URL, prefix });
    await owned.snapshot([budget()], T0);
    await owned.close();
    await vi.waitFor(() => expect(owned.client.status).toBe('end'));
    const given = new RedisLedgerStore({ client, prefix });
    await given.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
  });
});
