import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TokencapConfigError } from '../../lib/errors.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';

// Lease configuration mistakes are TokencapConfigErrors naming the bad value; none of these
// reaches Redis (the client never connects).
const client = new Redis({ lazyConnect: true });

describe('lease configuration', () => {
  afterAll(() => client.disconnect());

  for (const [option, value, shown] of [
    ['ttl', Number.NaN, 'NaN'],
    ['ttl', Number.POSITIVE_INFINITY, 'Infinity'],
    ['horizon', Number.NEGATIVE_INFINITY, '-Infinity'],
    ['idle', Number.NaN, 'NaN'],
  ] as const) {
    it(`lease.${option} = ${shown} is refused, naming the value`, () => {
      const build = () =>
        new RedisLedgerStore({ client, lease: { budgets: () => true, [option]: value } });
      expect(build).toThrow(TokencapConfigError);
      expect(build).toThrow(`Invalid lease.${option} of RedisLedgerStore: ${shown}. Expected`);
    });
  }
});
