import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { Ledger, MIN_RESERVATION_TTL_MS } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { TokencapConfigError } from '../../../lib/errors.js';
import { ModelCatalog } from '../../../lib/models/model.catalog.js';

describe('configuration a ledger cannot meter with is refused', () => {
  it.each([1, 999, '1ms', '500ms'])('reservationTtl %j is below the 1 s minimum', (ttl) => {
    expect(() => new Ledger({ reservationTtl: ttl as never })).toThrow(TokencapConfigError);
    expect(() => new Ledger({ reservationTtl: ttl as never })).toThrow(/at least 1000 ms/);
  });

  it('reservationTtl of 1 s or more is accepted', () => {
    expect(MIN_RESERVATION_TTL_MS).toBe(1_000);
    for (const ttl of ['1s', 1_000, '15m']) {
      expect(() => new Ledger({ reservationTtl: ttl as never })).not.toThrow();
    }
  });

  it.each([
    [
      { logger: {} },
      'Invalid Ledger option "logger": expected an object with a warn(message) method.',
    ],
    [
      { logger: null },
      'Invalid Ledger option "logger": expected an object with a warn(message) method.',
    ],
    [
      { logger: console.log },
      'Invalid Ledger option "logger": expected an object with a warn(message) method.',
    ],
    [
      { clock: 5 },
      'Invalid Ledger option "clock": expected a function returning epoch ms, got number.',
    ],
    [
      { clock: null },
      'Invalid Ledger option "clock": expected a function returning epoch ms, got null.',
    ],
    [
      { onStoreErorr: 'fail-open' },
      'Unknown option "onStoreErorr" for Ledger; known options: store, clock, reservationTtl, onStoreError, logger, closeTimeout.',
    ],
    [null, 'Invalid options of Ledger null: expected an object.'],
  ])('new Ledger(%j) is refused, naming the option', (options, message) => {
    expect(() => new Ledger(options as never)).toThrow(TokencapConfigError);
    expect(() => new Ledger(options as never)).toThrow(message);
  });

  it('a logger and clock of the right shape are accepted', () => {
    expect(() => new Ledger({ logger: { warn: () => {} }, clock: () => 0 })).not.toThrow();
  });

  it.each([-1, Number.NaN, Infinity, 1e12, 100_001])('a price of %s is refused', (rate) => {
    for (const price of [
      { input: rate, output: 1 },
      { input: 1, output: rate },
      { input: 1, output: 1, cachedInput: rate },
    ]) {
      expect(() => new ModelCatalog({ prices: { m: price } } as never)).toThrow(
        TokencapConfigError,
      );
    }
  });
});

describe('fractional token and request counts are rounded up, never down', () => {
  const ledger = () => new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  let n = 0;
  const budget = () =>
    defineBudget({ scope: 's', key: `f${++n}`, limit: { tokens: 1e9, requests: 1e9 } });
  const count = fc.double({ min: 0, max: 1e6, noNaN: true });

  it('charge, reserve and commit store the ceiling of every count', async () => {
    await fc.assert(
      fc.asyncProperty(count, count, count, async (charged, reserved, committed) => {
        const l = ledger();
        const b = budget();
        await l.charge([b], { tokens: charged, requests: charged });
        const r = await l.reserve([b], { base: { tokens: reserved } });
        const [during] = await l.usage([b]);
        expect(during.dimensions.tokens?.reserved).toBe(Math.ceil(reserved));
        await r.commit({ tokens: committed });
        const [after] = await l.usage([b]);
        expect(after.dimensions.tokens?.used).toBe(Math.ceil(charged) + Math.ceil(committed));
        expect(after.dimensions.requests?.used).toBe(Math.ceil(charged));
        await l.close();
      }),
      { numRuns: 50 },
    );
  });
});
