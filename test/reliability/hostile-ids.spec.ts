import type { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Budget, type BudgetDefinition, defineBudget } from '../../lib/core/budget.js';
import { encodeLedgerId, ledgerIdOf } from '../../lib/core/ledger-id.js';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../lib/errors.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../lib/testing/index.js';
import {
  REDIS_URL,
  deleteByPrefix,
  keysByPrefix,
  redisAvailable,
  uniquePrefix,
} from '../redis/support/redis-env.js';
import { type Figures, printFigures } from './support/figures.js';
import {
  type LlmAppLimits,
  llmAppModule,
  SESSION_HEADER,
  snapshotOf,
  USER_HEADER,
} from './support/llm-app.fixture.js';
import { gc } from '../support/gc.js';

// Session ids are chosen by clients. A hostile client sends huge ids, ids with newlines or Redis
// hash-tag braces, or a fresh id on every request. Each must stay one bounded ledger of its own,
// and the user and global budgets around the session must cap total spend whatever the ids do.

const available = await redisAvailable('the hostile session id tests on Redis');
const REPLY = 40;
const figures: Figures[] = [];

describe('hostile session ids', () => {
  let server: FakeOpenAIServer;
  let redis: Redis | undefined;
  const prefix = uniquePrefix('reliability-hostile');

  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: REPLY });
    if (available) redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    printFigures('rotating session ids', figures);
    await server.close();
    if (redis) {
      await deleteByPrefix(redis, prefix);
      await redis.quit();
    }
  });

  let apps = 0;
  const stores: [string, boolean, () => LedgerStore][] = [
    ['memory', true, () => new MemoryLedgerStore({ sweepInterval: false })],
    [
      'redis',
      available,
      () =>
        new RedisLedgerStore({
          client: redis as Redis,
          // One prefix per app, so the global budget of one test is not the next one's.
          prefix: `${prefix}${++apps}:`,
          commandTimeout: 10_000,
        }),
    ],
  ];

  describe.each(stores)('%s store', (_name, enabled, makeStore) => {
    let app: INestApplication;
    let store: LedgerStore;

    afterEach(async () => {
      await app?.close();
      await server.settled();
      server.reset();
    });

    async function start(limits?: Partial<LlmAppLimits>): Promise<void> {
      store = makeStore();
      const moduleRef = await Test.createTestingModule({
        imports: [llmAppModule({ baseURL: server.baseURL, store, limits })],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
    }
    const ask = (session: string, via: 'header' | 'body' = 'header') => {
      const req = request(app.getHttpServer()).post('/ask');
      if (via === 'header') req.set(SESSION_HEADER, session);
      return req.send(via === 'body' ? { session } : {});
    };
    const used = async (key: string) => (await snapshotOf(store, 'session', key)).used.tokens ?? 0;

    it.skipIf(!enabled)(
      'an 8 KB id is one bounded ledger of its own; a 1 MB header never reaches the app',
      async () => {
        await start();
        const huge = 'a'.repeat(8 * 1024);
        const res = await ask(huge).expect(200);
        const charged = res.body.usage.total_tokens;
        expect(await used(huge)).toBe(charged);
        // Another id sharing its first 8,000 characters is another ledger.
        expect(await used(`${huge.slice(0, 8_000)}b`)).toBe(0);
        if (store instanceof RedisLedgerStore) {
          const keys = store.keysOf(defineBudget({ scope: 'session', key: huge, limit: 1 }));
          expect(keys.ledger.length).toBeLessThan(prefix.length + 64);
          expect(await (redis as Redis).exists(keys.ledger)).toBe(1);
        }
        // Node refuses headers over 16 KB before any handler runs: Node 20 answers 431; Node 22
        // and 24 may reset the connection while the client is still sending. Either way the
        // request never reaches the app: nothing is reserved or sent.
        const refused: { status?: number; code?: string } = await ask(
          'a'.repeat(1024 * 1024),
        ).catch((e: { status?: number; code?: string }) => e);
        expect(
          refused.status === 431 || ['ECONNRESET', 'EPIPE'].includes(String(refused.code)),
        ).toBe(true);
        expect(server.requests).toHaveLength(1);
      },
    );

    it.skipIf(!enabled)(
      'ids with newlines (sent in the body) and Redis hash-tag braces stay distinct and in their own slot',
      async () => {
        await start();
        const ids = [
          'line\nbreak',
          'line\r\nbreak',
          'line',
          '{global}',
          '}{session:victim',
          '{}',
          'victim',
        ];
        for (const id of ids) await ask(id, 'body').expect(200);
        const each = await Promise.all(ids.map(used));
        // One call each, charged to its own ledger: no two ids share one.
        expect(new Set(each).size).toBe(1);
        expect(each[0]).toBeGreaterThan(0);
        // The braces did not reach the global budget: it holds exactly the seven calls.
        const global = await snapshotOf(store, 'global', 'global', '1d');
        expect(global.used.tokens).toBe(each[0] * ids.length);
        if (redis && store instanceof RedisLedgerStore) {
          const keys = (await keysByPrefix(redis, prefix)).filter((k) => k.includes('{session:'));
          for (const id of ids) {
            const { ledger } = store.keysOf(defineBudget({ scope: 'session', key: id, limit: 1 }));
            expect(keys).toContain(ledger);
            // The slot is chosen by the text between the first '{' and the next '}': always
            // 'session:<id>' for a plain id, 'session:~<sha256>' for one with braces or whitespace.
            const tag = ledger.slice(ledger.indexOf('{') + 1, ledger.indexOf('}'));
            expect(tag).toEqual(
              /[{}\s]/.test(id) ? expect.stringMatching(/^session:~[\w-]{43}$/) : `session:${id}`,
            );
            expect(ledger.split('{')).toHaveLength(2);
          }
        }
      },
    );

    it.skipIf(!enabled)(
      'a fresh id on every request: the user and global budgets still cap total spend',
      async () => {
        // The app's user and global budgets have day windows (epoch-aligned: they end at midnight
        // UTC). A wall clock within an hour of midnight would end them before the sessions' 1h ttl,
        // so the sweep below would drop them too: the clock is pinned to noon UTC instead.
        const DAY = 86_400_000;
        const noon = Math.floor(Date.now() / DAY) * DAY + DAY / 2;
        vi.useFakeTimers({ toFake: ['Date'], now: noon });
        try {
          await spendWithRotatingIds(noon + DAY / 2);
        } finally {
          vi.useRealTimers();
        }
      },
    );

    /** `dayEnd`: when the user and global budgets' day window ends. */
    async function spendWithRotatingIds(dayEnd: number): Promise<void> {
      // Each call costs about 50 tokens (prompt + 40), reserving prompt + 50 (its max_tokens).
      const rows: [string, Partial<LlmAppLimits>, number][] = [
        ['session only (no backstop)', { session: 1_000, user: 1e9, global: 1e9 }, Infinity],
        ['user backstop 2,000', { session: 1_000, user: 2_000, global: 1e9 }, 2_000],
        ['global backstop 2,000', { session: 1_000, user: 1e9, global: 2_000 }, 2_000],
      ];
      for (const [name, limits, cap] of rows) {
        await start(limits);
        const statuses = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            request(app.getHttpServer())
              .post('/ask')
              .set(SESSION_HEADER, `rotating-${name}-${i}`)
              .set(USER_HEADER, 'mallory')
              .send({})
              .then((r) => r.status),
          ),
        );
        await server.settled();
        const billed = server.tally.totalTokens;
        const global = await snapshotOf(store, 'global', 'global', '1d');
        const user = await snapshotOf(store, 'user', 'mallory', '1d');
        figures.push({
          store: _name,
          budgets: name,
          requests: 200,
          answered: statuses.filter((s) => s === 200).length,
          refused: statuses.filter((s) => s === 429).length,
          billed,
          'ledger (global)': global.used.tokens ?? 0,
          'over limit': Number.isFinite(cap) ? Math.max(0, billed - cap) : 'n/a',
        });
        expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
        expect(billed).toBeLessThanOrEqual(cap);
        expect(global.used.tokens).toBe(billed);
        expect(user.used.tokens).toBe(billed);
        expect(global.reserved).toEqual({});
        if (Number.isFinite(cap))
          expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(100);
        else expect(statuses.every((s) => s === 200)).toBe(true);
        if (store instanceof MemoryLedgerStore) {
          // 200 session ledgers, one user, one global; the session ttl (1h) drops the sessions,
          // the end of the day the other two.
          expect(store.size).toBe(202);
          store.sweep(Date.now() + 3_600_001);
          expect(store.size).toBe(2);
          store.sweep(dayEnd);
          expect(store.size).toBe(0);
        }
        await app.close();
        server.reset();
      }
    }
  });

  it('a refusal names a hostile key on one short line', () => {
    const key = `x")\nERROR forged log line ${'y'.repeat(8 * 1024)}`;
    const error = new BudgetExceededError({
      scope: 'session',
      key,
      dimension: 'tokens',
      limit: 10,
      used: 10,
      reserved: 0,
      requested: 5,
      policy: 'hard-stop',
    });
    expect(error.key).toBe(key);
    expect(error.message).not.toMatch(/[\r\n]/);
    expect(error.message).toContain('(key "x\\")\\nERROR forged log line yyy');
    expect(error.message.length).toBeLessThan(300);
  });

  it('the memory store keeps a ledger with an 8 KB key in a few hundred bytes', async () => {
    const store = new MemoryLedgerStore({ sweepInterval: false });
    const settle = async () => {
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return process.memoryUsage().heapUsed;
    };
    const before = await settle();
    const count = 2_000;
    for (let i = 0; i < count; i++) {
      // Each key is a fresh, distinct 8 KB string, as a header parsed per request would be.
      const key = randomBytes(6 * 1024).toString('base64');
      const budget = defineBudget({ scope: 'session', key, limit: 1_000, ttl: '1h' });
      await store.commit({ reservationId: 'r', budgets: [budget], actual: { tokens: 1 }, now: 0 });
    }
    const perLedger = ((await settle()) - before) / count;
    figures.push({
      store: 'memory',
      budgets: '8 KB keys',
      requests: count,
      'bytes per ledger': Math.round(perLedger),
    });
    expect(store.size).toBe(count);
    // Keeping the key itself would cost over 8 KB (16 KB as UTF-16) per ledger.
    expect(perLedger).toBeLessThan(1_024);
  });
});

// Ids are chosen by clients, so the ledger id must be injective over every string JavaScript can
// hold: lone surrogates (which UTF-8 encoding turns into U+FFFD), braces, colons, whitespace,
// control characters, '~' (the hash marker), '@' (the window separator), prototype names, and
// ids long enough to be hashed.
const PIECES = [
  '\uD800',
  '\uDBFF',
  '\uDC00',
  '\uDFFF',
  '\uFFFD',
  '{',
  '}',
  ':',
  '@',
  '~',
  '|',
  ' ',
  '\n',
  '\t',
  '\u0000',
  '\u007F',
  '"',
  '\\',
  '__proto__',
  'constructor',
  'é',
  'a',
  'session',
];
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const piece = fc.oneof(fc.constantFrom(...PIECES), codeUnit);
const hostileKey = fc.oneof(
  { weight: 6, arbitrary: fc.array(piece, { minLength: 1, maxLength: 12 }).map((p) => p.join('')) },
  // Around the readable/hashed boundary (128 characters) and far past it (10 KB).
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(127, 128, 129, 10_240), piece)
      .map(([n, tail]) => 'k'.repeat(n - 1) + tail),
  },
  { weight: 1, arbitrary: fc.constantFrom('a\uD800', 'a\uDBFF', 'a\uFFFD', '~a', 'a~', '@') },
);
// Keys from a small alphabet of look-alikes (each lone surrogate and U+FFFD, '~', ':', '{'),
// short and past the memory store's old hashing length, so a run often holds two that an encoding
// could merge.
const confusableKey = fc
  .tuple(
    fc.constantFrom('', 'k'.repeat(300)),
    fc.array(fc.constantFrom('a', '\uD800', '\uDBFF', '\uDC00', '\uFFFD', '~', ':', ' ', '{'), {
      minLength: 1,
      maxLength: 3,
    }),
  )
  .map(([prefix, pieces]) => prefix + pieces.join(''));
const scopeName = fc.constantFrom('session', 'user', 'a.b', 'x-y_z', 'Session');
const windowOption = fc.constantFrom<BudgetDefinition['window']>(
  undefined,
  1_000,
  '1h',
  3_600_000,
  '1d',
);
const identity = fc.record({
  scope: scopeName,
  key: fc.oneof(hostileKey, confusableKey),
  window: windowOption,
});
// Few scopes and windows, look-alike keys: many near-collisions per run.
const confusableIdentity = fc.record({
  scope: fc.constantFrom('session', 'user'),
  key: confusableKey,
  window: windowOption,
});
type Identity = { scope: string; key: string; window: BudgetDefinition['window'] };
const budgetOf = (i: Identity, limit = 1e12): Budget =>
  defineBudget({
    scope: i.scope,
    key: i.key,
    limit,
    ...(i.window !== undefined && { window: i.window }),
  });
/** The identity as the ledger sees it: '1h' and 3_600_000 are one window. */
const identityOf = (b: Budget) => JSON.stringify([b.scope, b.key, b.window?.tag ?? null]);

describe('ledger ids are injective over hostile identities', () => {
  it('distinct (scope, key, window) never share a storage id; equal ones always do', () => {
    fc.assert(
      fc.property(fc.array(identity, { minLength: 2, maxLength: 30 }), (identities) => {
        const byId = new Map<string, string>();
        for (const i of identities) {
          const b = budgetOf(i);
          const id = ledgerIdOf(b);
          const known = byId.get(id);
          if (known !== undefined) expect(known, `id ${JSON.stringify(id)}`).toBe(identityOf(b));
          byId.set(id, identityOf(b));
          // An equal identity built again (another limit) gets the same id.
          expect(ledgerIdOf(budgetOf(i, 5))).toBe(id);
          // Ids stay bounded and free of what could move a Redis Cluster hash slot.
          expect(id.length).toBeLessThan(64 + 64 + 2 + 128 + 1);
          expect(id).not.toMatch(/[{}\s]/);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps lone surrogates apart from U+FFFD at any length, and hand-made scopes apart', () => {
    for (const pad of [0, 300]) {
      const keys = ['a\uD800', 'a\uDBFF', 'a\uFFFD', 'a\uDC00'].map((k) => 'p'.repeat(pad) + k);
      const ids = keys.map((key) => encodeLedgerId('session', key));
      expect(new Set(ids).size).toBe(keys.length);
    }
    // Scopes defineBudget would refuse (a hand-made Budget) cannot forge another identity either.
    expect(encodeLedgerId('a:b', 'c')).not.toBe(encodeLedgerId('a', 'b:c'));
    expect(encodeLedgerId('a@1ms', 'c')).not.toBe(encodeLedgerId('a', 'c', '1ms'));
    expect(encodeLedgerId('s', 'k', 'x:y')).not.toBe(encodeLedgerId('s', 'y:k', 'x'));
    // A plain key cannot pose as another key's hash.
    const hashed = encodeLedgerId('session', 'john doe');
    expect(hashed).toMatch(/^session:~[\w-]{43}$/);
    expect(encodeLedgerId('session', hashed.slice('session:'.length))).not.toBe(hashed);
  });

  const stores: [string, boolean, () => LedgerStore][] = [
    ['memory', true, () => new MemoryLedgerStore({ sweepInterval: false })],
    [
      'redis',
      available,
      () =>
        new RedisLedgerStore({
          client: propertyRedis as Redis,
          prefix: `${propertyPrefix}${++propertyRuns}:`,
          commandTimeout: 10_000,
        }),
    ],
  ];
  let propertyRedis: Redis | undefined;
  let propertyRuns = 0;
  const propertyPrefix = uniquePrefix('reliability-ids');
  beforeAll(() => {
    if (available) propertyRedis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    if (propertyRedis) {
      await deleteByPrefix(propertyRedis, propertyPrefix);
      await propertyRedis.quit();
    }
  });

  it.each(stores)(
    '%s store: charging one identity never changes another one’s usage',
    async (_name, enabled, makeStore) => {
      if (!enabled) return;
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(fc.oneof(identity, confusableIdentity, confusableIdentity), {
            minLength: 2,
            maxLength: 10,
            selector: (i) => identityOf(budgetOf(i)),
          }),
          async (identities) => {
            const store = makeStore();
            try {
              const budgets = identities.map((i) => budgetOf(i));
              const now = 1_700_006_400_000;
              // Identity i is charged i + 1 tokens: any two sharing a ledger would read a sum.
              for (const [i, b] of budgets.entries()) {
                await store.commit({
                  reservationId: `c${i}`,
                  budgets: [b],
                  actual: { tokens: i + 1 },
                  now,
                });
              }
              const snapshots = await store.snapshot(budgets, now);
              expect(snapshots.map((s) => s.used.tokens)).toEqual(budgets.map((_, i) => i + 1));
            } finally {
              await store.close?.();
            }
          },
        ),
        { numRuns: _name === 'redis' ? 60 : 300 },
      );
    },
    60_000,
  );
});
