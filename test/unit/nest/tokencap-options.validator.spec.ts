import { Logger } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { resolveTokencapOptions } from '../../../lib/nest/tokencap-options.validator.js';

describe('resolveTokencapOptions', () => {
  it('applies every default', async () => {
    const options = resolveTokencapOptions({});
    expect(options).toMatchObject({
      thresholds: [0.8, 0.9],
      policy: 'hard-stop',
      onStoreError: 'fail-closed',
      reservationTtlMs: 900_000,
      onMissingKey: 'refuse',
    });
    expect(options.scopes.size).toBe(0);
    expect(options.store).toBeInstanceOf(MemoryLedgerStore);
    expect(options.logger).toBeInstanceOf(Logger);
    await options.store.close?.();
  });

  it('keeps given values, sorted and parsed', () => {
    const store = new MemoryLedgerStore({ sweepInterval: false });
    const logger = { warn: () => undefined };
    const session = () => 'k';
    const options = resolveTokencapOptions({
      scopes: { session },
      thresholds: [0.9, 0.5, 0.9],
      policy: 'notify',
      store,
      onStoreError: 'fail-open',
      reservationTtl: '30s',
      onMissingKey: 'skip',
      logger,
    });
    expect(options).toMatchObject({
      thresholds: [0.5, 0.9],
      policy: 'notify',
      store,
      onStoreError: 'fail-open',
      reservationTtlMs: 30_000,
      onMissingKey: 'skip',
      logger,
    });
    expect([...options.scopes]).toEqual([['session', session]]);
    expect(Object.isFrozen(options)).toBe(true);
  });

  it('rejects options that are not an object', () => {
    expect(() => resolveTokencapOptions([] as never)).toThrow(
      'Invalid TokencapModule options [] (forRoot, or what forRootAsync resolved): expected a plain object of options.',
    );
  });

  it('validates prices at bootstrap, naming the model', () => {
    expect(
      resolveTokencapOptions({
        prices: { 'my-model': { input: 1, output: 2 } },
        defaultPrice: { input: 3, output: 4 },
      }).prices,
    ).toEqual({
      prices: { 'my-model': { input: 1, output: 2 } },
      defaultPrice: { input: 3, output: 4 },
    });
    expect(() =>
      resolveTokencapOptions({ prices: { 'my-model': { input: '1', output: 2 } as never } }),
    ).toThrow(
      'Invalid prices["my-model"]: {"input":"1","output":2}. Expected { input, cachedInput?, output } in USD per 1M tokens, each a finite number from 0 to 100000.',
    );
    expect(() => resolveTokencapOptions({ prices: 'cheap' as never })).toThrow(
      'Invalid TokencapModule option "prices": "cheap". Expected an object of model name to { input, cachedInput?, output } in USD per 1M tokens.',
    );
  });
});
