import { HealthIndicatorService } from '@nestjs/terminus';
import { describe, expect, it } from 'vitest';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { TokencapConfigError } from '../../../lib/errors.js';
import { BudgetStoreHealthIndicator } from '../../../lib/terminus/index.js';

describe('BudgetStoreHealthIndicator.isHealthy() options', () => {
  const indicator = () =>
    new BudgetStoreHealthIndicator(
      new Ledger({ store: new MemoryLedgerStore() }),
      new HealthIndicatorService(),
    );

  it('refuses an unknown option by name instead of ignoring it', async () => {
    const attempt = indicator().isHealthy('k', { timout: '1s' } as never);
    await expect(attempt).rejects.toThrow(TokencapConfigError);
    await expect(indicator().isHealthy('k', { timout: '1s' } as never)).rejects.toThrow(
      'Unknown option "timout" for BudgetStoreHealthIndicator.isHealthy(); known options: timeout.',
    );
  });

  it('refuses options that are not an object, naming them', async () => {
    await expect(indicator().isHealthy('k', null as never)).rejects.toThrow(
      'Invalid options null of BudgetStoreHealthIndicator.isHealthy(): expected an object.',
    );
  });

  it('still answers with the known option', async () => {
    expect(await indicator().isHealthy('k', { timeout: '1s' })).toEqual({ k: { status: 'up' } });
  });
});
