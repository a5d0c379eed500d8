import { describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import type { LedgerStore } from '../../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import {
  BudgetExceededError,
  StoreUnavailableError,
  TokencapConfigError,
} from '../../../lib/errors.js';

const T0 = 1_700_006_400_000;

function setup(store: LedgerStore = new MemoryLedgerStore({ sweepInterval: false }), extra = {}) {
  const ledger = new Ledger({ store, clock: () => T0, ...extra });
  const events: TokencapEvent[] = [];
  ledger.events$.subscribe((e) => events.push(e));
  return { ledger, events };
}

describe('Ledger', () => {
  it('publishes usage, then thresholds in ascending order, then exhaustion, each once', async () => {
    const { ledger, events } = setup();
    const session = defineBudget({ scope: 'session', key: 'abc', limit: 1000 });
    const r = await ledger.reserve([session], {
      base: { tokens: 100 },
      units: { min: 1, max: 900, ifUnbounded: 0 },
    });
    expect(r.units).toBe(900);
    expect(await r.commit({ tokens: 1000 })).toBe(true);
    expect(await r.commit({ tokens: 1000 })).toBe(false);
    expect(
      events.map((e) => (e.type === 'threshold' ? `threshold@${e.threshold}` : e.type)),
    ).toEqual(['usage', 'threshold@0.8', 'threshold@0.9', 'exhausted']);
    expect(events[1]).toEqual({
      type: 'threshold',
      scope: 'session',
      key: 'abc',
      at: T0,
      dimension: 'tokens',
      threshold: 0.8,
      used: 1000,
      limit: 1000,
    });
    expect(await ledger.usage([session])).toEqual([
      {
        scope: 'session',
        key: 'abc',
        dimension: 'tokens',
        limit: 1000,
        used: 1000,
        reserved: 0,
        remaining: 0,
        credit: 0,
        burnRate: null,
        projectedExhaustion: null,
        dimensions: {
          tokens: {
            limit: 1000,
            used: 1000,
            reserved: 0,
            remaining: 0,
            credit: 0,
            burnRate: null,
            projectedExhaustion: null,
          },
        },
        windowEnd: null,
      },
    ]);
  });

  it('refuses with a BudgetExceededError carrying the numbers, and publishes a refused event', async () => {
    const { ledger, events } = setup();
    const session = defineBudget({ scope: 'session', key: 'abc', limit: 500 });
    const held = await ledger.reserve([session], { base: { tokens: 300 } });
    const error = await ledger
      .reserve([session], { base: { tokens: 250 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({
      name: 'BudgetExceededError',
      scope: 'session',
      key: 'abc',
      dimension: 'tokens',
      limit: 500,
      used: 0,
      reserved: 300,
      requested: 250,
      policy: 'hard-stop',
      message:
        'Budget "session" (key "abc") exceeded: the call needs 250 tokens but only 200 of 500 tokens remain ' +
        '(0 used, 300 reserved by calls in flight; policy hard-stop).',
    });
    expect(events).toEqual([
      {
        type: 'refused',
        at: T0,
        scope: 'session',
        key: 'abc',
        dimension: 'tokens',
        policy: 'hard-stop',
        limit: 500,
        used: 0,
        reserved: 300,
        requested: 250,
      },
    ]);
    expect(await held.release()).toBe(true);
    expect(await held.release()).toBe(false);
    expect((await ledger.usage([session]))[0].remaining).toBe(500);
  });

  it('reports dollars in dollars while keeping micro-dollars in the store', async () => {
    const { ledger } = setup();
    const user = defineBudget({ scope: 'user', key: 'u', limit: { usd: 0.5, tokens: 10_000 } });
    await ledger.charge([user], { usd: 123_456, tokens: 42 });
    const [usage] = await ledger.usage([user]);
    expect(usage.dimension).toBe('tokens');
    expect(usage.dimensions.usd).toEqual({
      limit: 0.5,
      used: 0.123456,
      reserved: 0,
      remaining: 0.376544,
      credit: 0,
      burnRate: null,
      projectedExhaustion: null,
    });
  });

  it('completes events$ on close', async () => {
    const { ledger } = setup();
    const complete = vi.fn();
    ledger.events$.subscribe({ complete });
    await ledger.close();
    expect(complete).toHaveBeenCalledOnce();
  });

  it('rejects an unknown onStoreError mode naming it', () => {
    expect(() => new Ledger({ onStoreError: 'retry' as never })).toThrow(TokencapConfigError);
    expect(() => new Ledger({ onStoreError: 'retry' as never })).toThrow(
      `Invalid onStoreError "retry"`,
    );
  });
});

describe('Ledger when the store fails', () => {
  function brokenStore(): LedgerStore & { broken: boolean } {
    const inner = new MemoryLedgerStore({ sweepInterval: false });
    const fail = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6390'));
    const s = {
      broken: true,
      reserve: (i: never) => (s.broken ? fail() : inner.reserve(i)),
      commit: (i: never) => (s.broken ? fail() : inner.commit(i)),
      release: (i: never) => (s.broken ? fail() : inner.release(i)),
      snapshot: (b: never, n: never) => (s.broken ? fail() : inner.snapshot(b, n)),
    };
    return s as never;
  }
  const session = defineBudget({ scope: 'session', key: 'abc', limit: 100 });

  it('fail-closed refuses with StoreUnavailableError, warning once per outage', async () => {
    const warn = vi.fn();
    const store = brokenStore();
    const { ledger, events } = setup(store, { logger: { warn } });
    for (let i = 0; i < 3; i++) {
      await expect(ledger.reserve([session], { base: { tokens: 1 } })).rejects.toThrow(
        StoreUnavailableError,
      );
    }
    expect(warn).toHaveBeenCalledOnce();
    expect(events.map((e) => e.type)).toEqual(['store-error']);
    store.broken = false;
    await (await ledger.reserve([session], { base: { tokens: 1 } })).commit({ tokens: 1 });
    store.broken = true;
    await expect(ledger.reserve([session], { base: { tokens: 1 } })).rejects.toThrow(
      "The budget store is unavailable, so the call was refused (onStoreError: 'fail-closed'): connect ECONNREFUSED 127.0.0.1:6390",
    );
    expect(warn).toHaveBeenCalledTimes(2);
  });

  it('usage() under fail-closed says the usage could not be read, not that a call was refused', async () => {
    const { ledger } = setup(brokenStore(), { logger: { warn: () => {} } });
    await expect(ledger.usage([session])).rejects.toThrow(StoreUnavailableError);
    await expect(ledger.usage([session])).rejects.toThrow(
      "The budget store is unavailable, so the usage could not be read (onStoreError: 'fail-closed'): connect ECONNREFUSED 127.0.0.1:6390",
    );
  });

  it('a throwing logger neither turns a fail-open call into an error nor stops the event', async () => {
    const warn = vi.fn(() => {
      throw new Error('log sink down');
    });
    const { ledger, events } = setup(brokenStore(), {
      onStoreError: 'fail-open',
      logger: { warn },
    });
    const r = await ledger.reserve([session], { base: { tokens: 10 } });
    await r.commit({ tokens: 10 });
    expect(warn).toHaveBeenCalledOnce();
    expect(events.map((e) => e.type)).toEqual(['store-error', 'usage']);
    expect((await ledger.usage([session]))[0].used).toBe(10);
  });

  it('a throwing logger leaves a fail-closed refusal a StoreUnavailableError', async () => {
    const { ledger } = setup(brokenStore(), {
      logger: {
        warn: () => {
          throw new Error('log sink down');
        },
      },
    });
    await expect(ledger.reserve([session], { base: { tokens: 1 } })).rejects.toThrow(
      StoreUnavailableError,
    );
  });

  it('fail-open counts locally during the outage and still enforces the limit there', async () => {
    const { ledger, events } = setup(brokenStore(), {
      onStoreError: 'fail-open',
      logger: { warn: () => {} },
    });
    const r = await ledger.reserve([session], { base: { tokens: 60 } });
    await r.commit({ tokens: 60 });
    await expect(ledger.reserve([session], { base: { tokens: 60 } })).rejects.toThrow(
      BudgetExceededError,
    );
    expect(events.filter((e) => e.type === 'store-error')).toEqual([
      {
        type: 'store-error',
        at: T0,
        mode: 'fail-open',
        message: 'connect ECONNREFUSED 127.0.0.1:6390',
      },
    ]);
  });
});

describe('Ledger input checks', () => {
  const b = defineBudget({ scope: 'session', key: 'k', limit: 1_000 });

  it.each([
    [
      () => setup().ledger.charge([b], { tokens: -500 }),
      'Ledger.charge: tokens is -500; expected a finite number >= 0.',
    ],
    [
      () => setup().ledger.charge([b], { tokens: Number.NaN }),
      'Ledger.charge: tokens is NaN; expected a finite number >= 0.',
    ],
    [
      () => setup().ledger.charge([b], { euros: 5 } as never),
      'Ledger.charge: unknown dimension "euros"; expected tokens, usd (micro-dollars) or requests.',
    ],
    [
      () => setup().ledger.reserve([b], { base: { tokens: -900 } }),
      'Ledger.reserve base: tokens is -900; expected a finite number >= 0.',
    ],
    [
      () =>
        setup().ledger.reserve([b], {
          base: { tokens: 1 },
          units: { min: -1, max: 2, ifUnbounded: 0 },
        }),
      'Ledger.reserve: units {"min":-1,"max":2,"ifUnbounded":0} are invalid',
    ],
    [
      () =>
        setup().ledger.reserve([{ scope: 'session', key: 'k', limit: 10 }] as never, {
          base: { tokens: 1 },
        }),
      'Ledger.reserve: budgets[0] is {"scope":"session","key":"k","limit":10}, not a budget; build budgets with defineBudget({ scope, key, limit }).',
    ],
  ])('rejects bad input with an error naming it (%#)', async (call, message) => {
    const attempt = call();
    await expect(attempt).rejects.toThrow(TokencapConfigError);
    await expect(attempt).rejects.toThrow(message);
  });

  it('leaves a reservation open when its commit is rejected', async () => {
    const { ledger } = setup();
    const r = await ledger.reserve([b], { base: { tokens: 10 } });
    await expect(r.commit({ tokens: -1 })).rejects.toThrow('Reservation.commit: tokens is -1');
    expect(await r.commit({ tokens: 8 })).toBe(true);
    expect((await ledger.usage([b]))[0]).toMatchObject({ used: 8, reserved: 0 });
  });
});
