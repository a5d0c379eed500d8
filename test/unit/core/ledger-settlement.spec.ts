import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import type { StoreErrorEvent, TokencapEvent } from '../../../lib/core/events.js';
import { Ledger, type LedgerOptions } from '../../../lib/core/ledger.js';
import type {
  CommitInput,
  LedgerStore,
  ReleaseInput,
  ReserveInput,
} from '../../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { MAX_PENDING_SETTLEMENTS } from '../../../lib/core/settlement-retry.queue.js';
import { BudgetExceededError, StoreUnavailableError } from '../../../lib/errors.js';

// Settlement is durable: a commit or release the store does not take is retried until it does,
// counted once whatever happened to the replies, and what close() cannot write is reported. These
// run the Ledger over a store that can go down, or apply an operation and lose its reply; the real
// Redis outages are in test/redis/redis-outage.spec.ts.

const T0 = 1_700_006_400_000;

type Mode = 'up' | 'down' | 'lose-reply';

/** A store over a MemoryLedgerStore whose operations can fail before, or after, they apply. */
class FlakyStore implements LedgerStore {
  readonly inner = new MemoryLedgerStore({ sweepInterval: false });
  mode: Mode = 'up';
  /** Loses the reply of the n-th commit from now (1: the next one). */
  loseCommitReply = 0;
  readonly calls: { op: string; ifUnknown?: string }[] = [];

  constructor(private readonly sync = false) {}

  private run<T>(op: string, apply: () => T, ifUnknown?: string): T | Promise<T> {
    this.calls.push({ op, ifUnknown });
    let mode = this.mode;
    if (op === 'commit' && mode === 'up' && this.loseCommitReply > 0) {
      this.loseCommitReply -= 1;
      if (this.loseCommitReply === 0) mode = 'lose-reply';
    }
    const outcome = (): T => {
      if (mode === 'down') {
        // Never sent: certainly not applied, as RedisStoreError says for 'unavailable'.
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), {
          mayHaveApplied: false,
        });
      }
      const result = apply();
      if (mode === 'lose-reply' && op !== 'snapshot') {
        this.mode = 'up'; // one reply lost, then the connection is back
        throw new Error('Connection is closed.');
      }
      return result;
    };
    if (this.sync) return outcome();
    return Promise.resolve().then(outcome);
  }

  reserve(input: ReserveInput) {
    return this.run('reserve', () => this.inner.reserve(input));
  }
  commit(input: CommitInput) {
    return this.run('commit', () => this.inner.commit(input), input.ifUnknown);
  }
  release(input: ReleaseInput) {
    return this.run('release', () => this.inner.release(input));
  }
  snapshot(budgets: readonly Budget[], now: number) {
    return this.run('snapshot', () => this.inner.snapshot(budgets, now));
  }
}

function setup(store: FlakyStore, options: Partial<LedgerOptions> = {}) {
  const warn = vi.fn();
  const ledger = new Ledger({ store, clock: () => T0, logger: { warn }, ...options });
  const events: TokencapEvent[] = [];
  ledger.events$.subscribe((e) => events.push(e));
  return { ledger, events, warn };
}

const used = (store: FlakyStore, b: Budget) => store.inner.snapshot([b], T0)[0];
const usageEvents = (events: TokencapEvent[]) => events.filter((e) => e.type === 'usage');

describe.each([
  ['an async store', false],
  ['a sync store', true],
])('Ledger settlement over %s', (_name, sync) => {
  let budget: Budget;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    budget = defineBudget({ scope: 'session', key: `k-${Math.random()}`, limit: 100 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a commit that fails during an outage is retried until the store takes it, and its reservation holds meanwhile', async () => {
    const store = new FlakyStore(sync);
    const { ledger, events } = setup(store);
    const r = await ledger.reserve([budget], { base: { tokens: 90 } });
    store.mode = 'down';
    // The caller gets its result at once, as before: the commit is queued, not lost.
    expect(await r.commit({ tokens: 90 })).toBe(true);
    expect(ledger.pendingSettlements).toBe(1);
    expect(used(store, budget)).toEqual({ used: {}, reserved: { tokens: 90 } });
    store.mode = 'up';
    await vi.advanceTimersByTimeAsync(100);
    expect(ledger.pendingSettlements).toBe(0);
    expect(used(store, budget)).toEqual({ used: { tokens: 90 }, reserved: {} });
    // The budget holds: 10 left, not 100 (what was left when the commit went to a local store).
    await expect(ledger.reserve([budget], { base: { tokens: 11 } })).rejects.toThrow(
      BudgetExceededError,
    );
    expect((await ledger.reserve([budget], { base: { tokens: 10 } })).amounts).toEqual({
      tokens: 10,
    });
    // Usage events come once, when the store recorded the commit, with the store's numbers.
    expect(usageEvents(events)).toHaveLength(1);
    expect(usageEvents(events)[0]).toMatchObject({ used: 90, limit: 100 });
    await ledger.close();
  });

  it('a commit whose reply was lost is retried and counted once, its events published once', async () => {
    const store = new FlakyStore(sync);
    const { ledger, events } = setup(store);
    const r = await ledger.reserve([budget], { base: { tokens: 90 } });
    store.mode = 'lose-reply';
    expect(await r.commit({ tokens: 85 })).toBe(true);
    expect(used(store, budget)).toEqual({ used: { tokens: 85 }, reserved: {} });
    expect(ledger.pendingSettlements).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(ledger.pendingSettlements).toBe(0);
    expect(used(store, budget)).toEqual({ used: { tokens: 85 }, reserved: {} });
    expect(store.calls.filter((c) => c.op === 'commit').map((c) => c.ifUnknown)).toEqual([
      'charge',
      'skip',
    ]);
    expect(usageEvents(events).map((e) => e.used)).toEqual([85]);
    await ledger.close();
  });

  it('a charge whose reply was lost is counted once', async () => {
    const store = new FlakyStore(sync);
    const { ledger } = setup(store);
    store.mode = 'lose-reply';
    await ledger.charge([budget], { tokens: 30 });
    await vi.advanceTimersByTimeAsync(100);
    expect(used(store, budget)).toEqual({ used: { tokens: 30 }, reserved: {} });
    expect(store.calls.filter((c) => c.op === 'commit').map((c) => c.ifUnknown)).toEqual([
      'charge-once',
      'charge-once',
    ]);
    await ledger.close();
  });

  it('a release that fails is retried; the capacity stays held until it succeeds', async () => {
    const store = new FlakyStore(sync);
    const { ledger } = setup(store);
    const r = await ledger.reserve([budget], { base: { tokens: 70 } });
    store.mode = 'down';
    expect(await r.release()).toBe(true);
    expect(used(store, budget).reserved).toEqual({ tokens: 70 });
    store.mode = 'lose-reply';
    await vi.advanceTimersByTimeAsync(100); // applied, reply lost: retried once more
    await vi.advanceTimersByTimeAsync(200);
    expect(ledger.pendingSettlements).toBe(0);
    expect(used(store, budget)).toEqual({ used: {}, reserved: {} });
    expect(store.calls.filter((c) => c.op === 'release')).toHaveLength(3);
    await ledger.close();
  });

  it('fail-open: usage counted locally during an outage reaches the store once it answers, once', async () => {
    const store = new FlakyStore(sync);
    const { ledger, events } = setup(store, { onStoreError: 'fail-open' });
    await ledger.charge([budget], { tokens: 20 });
    store.mode = 'down';
    const r = await ledger.reserve([budget], { base: { tokens: 60 } });
    await r.commit({ tokens: 60 });
    // Still enforced in this process meanwhile (it knows only its own 60).
    await expect(ledger.reserve([budget], { base: { tokens: 41 } })).rejects.toThrow(
      BudgetExceededError,
    );
    await ledger.charge([budget], { tokens: 5 });
    expect(ledger.pendingSettlements).toBe(2);
    expect(used(store, budget)).toEqual({ used: { tokens: 20 }, reserved: {} });
    store.mode = 'up';
    store.loseCommitReply = 2; // the replay is written; the charge applies but its reply is lost
    await vi.advanceTimersByTimeAsync(6_000);
    expect(ledger.pendingSettlements).toBe(0);
    expect(used(store, budget)).toEqual({ used: { tokens: 85 }, reserved: {} });
    expect(store.calls.filter((c) => c.op === 'commit').map((c) => c.ifUnknown)).toEqual([
      'charge-once', // the first charge
      'charge-once', // the second charge, during the outage: not sent
      'charge-once', // the replay of the local commit
      'charge-once', // the second charge: applied, reply lost
      'charge-once', // its retry: recorded nothing
    ]);
    // Usage events: the first charge (20, from the store), the local commit (60, as counted
    // locally), the second charge once the store recorded it (85). The replay adds no usage event
    // but publishes the threshold it crossed in the store (0.8 at 80).
    expect(usageEvents(events).map((e) => e.used)).toEqual([20, 60, 85]);
    expect(events.flatMap((e) => (e.type === 'threshold' ? [[e.threshold, e.used]] : []))).toEqual([
      [0.8, 80],
    ]);
    await ledger.close();
  });

  it('close() writes what it can before its deadline and reports exactly what it could not', async () => {
    vi.useRealTimers();
    const store = new FlakyStore(sync);
    const { ledger, events, warn } = setup(store, { closeTimeout: '150ms' });
    const other = defineBudget({ scope: 'user', key: 'u"\n', limit: { tokens: 1_000, usd: 5 } });
    const a = await ledger.reserve([budget], { base: { tokens: 10 } });
    const b = await ledger.reserve([other, budget], { base: { tokens: 20 } });
    const c = await ledger.reserve([budget], { base: { tokens: 5 } });
    store.mode = 'down';
    await a.commit({ tokens: 9 });
    await b.commit({ tokens: 20, usd: 1_500_000 });
    await c.release();
    expect(ledger.pendingSettlements).toBe(3);
    const complete = vi.fn();
    ledger.events$.subscribe({ complete });
    const started = performance.now();
    await ledger.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    const lost = events.filter((e): e is StoreErrorEvent => e.type === 'store-error').at(-1);
    expect(lost?.unwritten).toEqual([
      {
        kind: 'commit',
        reservationId: a.id,
        budgets: [{ scope: 'session', key: budget.key }],
        amounts: { tokens: 9 },
      },
      {
        kind: 'commit',
        reservationId: b.id,
        budgets: [
          { scope: 'user', key: 'u"\n' },
          { scope: 'session', key: budget.key },
        ],
        amounts: { tokens: 20, usd: 1.5 },
      },
      {
        kind: 'release',
        reservationId: c.id,
        budgets: [{ scope: 'session', key: budget.key }],
      },
    ]);
    const message = warn.mock.calls.at(-1)?.[0] as string;
    expect(message).toContain('3 settlement(s) not written to the budget store');
    expect(message).toContain(`commit ${a.id} on session:`);
    expect(message).toContain('{"tokens":20,"usd":1.5}');
    expect(message).not.toMatch(/\n/); // a hostile key cannot forge a log line
    expect(complete).toHaveBeenCalledOnce();
  });

  it('close() waits for a store that comes back before its deadline', async () => {
    vi.useRealTimers();
    const store = new FlakyStore(sync);
    const { ledger, events } = setup(store, { closeTimeout: '2s' });
    const r = await ledger.reserve([budget], { base: { tokens: 10 } });
    store.mode = 'down';
    await r.commit({ tokens: 10 });
    setTimeout(() => (store.mode = 'up'), 120);
    await ledger.close();
    expect(used(store, budget)).toEqual({ used: { tokens: 10 }, reserved: {} });
    expect(events.some((e) => e.type === 'store-error' && e.unwritten)).toBe(false);
  });
});

describe('Ledger settlement', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fail-closed refuses new calls during the outage while earlier commits wait to be written', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const store = new FlakyStore();
    const { ledger } = setup(store);
    const b = defineBudget({ scope: 'session', key: 'fc', limit: 100 });
    const r = await ledger.reserve([b], { base: { tokens: 50 } });
    store.mode = 'down';
    await r.commit({ tokens: 50 });
    await expect(ledger.reserve([b], { base: { tokens: 1 } })).rejects.toThrow(
      StoreUnavailableError,
    );
    store.mode = 'up';
    // Any call that reaches the store again starts the retries at once.
    await ledger.usage([b]);
    await vi.advanceTimersByTimeAsync(0);
    expect(ledger.pendingSettlements).toBe(0);
    expect(used(store, b).used).toEqual({ tokens: 50 });
    await ledger.close();
  });

  it(`keeps at most ${MAX_PENDING_SETTLEMENTS} settlements waiting, reporting the oldest it gives up`, async () => {
    const store = new FlakyStore(true);
    const { ledger, events, warn } = setup(store);
    const b = defineBudget({ scope: 'session', key: 'many', limit: 1e12 });
    const first = await ledger.reserve([b], { base: { tokens: 1 } });
    const rest = [];
    for (let i = 0; i < MAX_PENDING_SETTLEMENTS; i++) {
      rest.push(await ledger.reserve([b], { base: { tokens: 1 } }));
    }
    store.mode = 'down';
    await first.commit({ tokens: 7 });
    for (const r of rest) await r.commit({ tokens: 1 });
    expect(ledger.pendingSettlements).toBe(MAX_PENDING_SETTLEMENTS);
    const dropped = events.filter((e) => e.type === 'store-error' && e.unwritten);
    expect(dropped).toEqual([
      expect.objectContaining({
        unwritten: [
          {
            kind: 'commit',
            reservationId: first.id,
            budgets: [{ scope: 'session', key: 'many' }],
            amounts: { tokens: 7 },
          },
        ],
      }),
    ]);
    expect(warn.mock.calls.at(-1)?.[0]).toContain('too many settlements were waiting');
    store.mode = 'up';
    await ledger.close();
    expect(used(store, b).used).toEqual({ tokens: MAX_PENDING_SETTLEMENTS });
  });

  it('settles synchronously on a synchronous store: commitNow returns true, not a promise', async () => {
    const memory = new MemoryLedgerStore({ sweepInterval: false });
    const ledger = new Ledger({ store: memory, clock: () => T0 });
    const b = defineBudget({ scope: 'session', key: 'sync', limit: 100 });
    const r = await ledger.reserve([b], { base: { tokens: 10 } });
    expect(r.commitNow({ tokens: 8 })).toBe(true);
    expect(memory.snapshot([b], T0)).toEqual([{ used: { tokens: 8 }, reserved: {} }]);
    expect(r.commitNow({ tokens: 8 })).toBe(false);
    const async = new FlakyStore();
    const ledger2 = new Ledger({ store: async, clock: () => T0 });
    const r2 = await ledger2.reserve([b], { base: { tokens: 10 } });
    const pending = r2.commitNow({ tokens: 8 });
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(used(async, b).used).toEqual({ tokens: 8 });
    await ledger.close();
    await ledger2.close();
  });
});

describe('Ledger settlement after close()', () => {
  it('reports a settlement that fails after close() instead of keeping it unseen', async () => {
    const store = new FlakyStore(true);
    const { ledger, events, warn } = setup(store);
    const b = defineBudget({ scope: 'session', key: 'late', limit: 100 });
    const r = await ledger.reserve([b], { base: { tokens: 10 } });
    await ledger.close();
    store.mode = 'down';
    expect(await r.commit({ tokens: 4 })).toBe(true);
    expect(ledger.pendingSettlements).toBe(0);
    expect(warn.mock.calls.at(-1)?.[0]).toContain(
      `1 settlement(s) not written to the budget store (the ledger was closed before the store took it): commit ${r.id}`,
    );
    // events$ completed at close(): the logger is the one left to tell.
    expect(events.filter((e) => e.type === 'store-error' && e.unwritten)).toEqual([]);
  });
});

describe('Ledger amount bounds', () => {
  it('refuses an amount over MAX_AMOUNT, naming it, before it reaches the store', async () => {
    const store = new FlakyStore(true);
    const { ledger } = setup(store);
    const b = defineBudget({ scope: 'session', key: 'huge', limit: 100 });
    await expect(ledger.charge([b], { tokens: Number.MAX_VALUE })).rejects.toThrow(
      'Ledger.charge: tokens is 1.7976931348623157e+308; expected at most 1000000000000000 (MAX_AMOUNT, in store units).',
    );
    await expect(ledger.reserve([b], { base: { usd: 2e15 } })).rejects.toThrow(
      'Ledger.reserve base: usd is 2000000000000000; expected at most 1000000000000000',
    );
    // Inherited amounts are checked too: the stores would read them.
    const inherited = Object.create({ tokens: 1e300 }) as { tokens: number };
    await expect(ledger.charge([b], inherited)).rejects.toThrow('tokens is 1e+300');
    expect(store.calls).toEqual([]);
    await ledger.close();
  });
});
