import type { DynamicModule, ValueProvider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokencapConfigError } from '../../../lib/errors.js';
import { Budget } from '../../../lib/nest/budget.decorator.js';
import type { TokencapModuleOptions } from '../../../lib/nest/tokencap-options.interface.js';
import { resolveTokencapOptions } from '../../../lib/nest/tokencap-options.validator.js';
import { TokencapModule } from '../../../lib/nest/tokencap.module.js';
import { TOKENCAP_MODULE_OPTIONS } from '../../../lib/nest/tokencap.module-definition.js';

/** What forRoot() hands to the validator, after Nest's module builder has copied it. */
function forRootOptions(options: unknown): unknown {
  const module: DynamicModule = TokencapModule.forRoot(options as TokencapModuleOptions);
  const provider = module.providers!.find(
    (p) => (p as ValueProvider).provide === TOKENCAP_MODULE_OPTIONS,
  ) as ValueProvider;
  return provider.useValue;
}

// Options whose value, if read through a prototype, would loosen or change every budget.
const HOSTILE = fc.constantFrom<Record<string, unknown>>(
  { policy: 'notify' },
  { policy: 'degrade' },
  { onStoreError: 'fail-open' },
  { onMissingKey: 'skip' },
  { thresholds: [1] },
  { reservationTtl: 1 },
  { defaultPrice: { input: 0, output: 0 } },
);

describe('module options are read from the object itself, never through its prototype', () => {
  it('refuses JSON with a "__proto__" key given to forRoot()', () => {
    fc.assert(
      fc.property(HOSTILE, (fields) => {
        const parsed: unknown = JSON.parse(`{"__proto__": ${JSON.stringify(fields)}}`);
        expect(() => resolveTokencapOptions(forRootOptions(parsed) as never)).toThrow(
          TokencapConfigError,
        );
        // The same object given straight to the validator (what forRootAsync's factory returns).
        expect(() => resolveTokencapOptions(parsed as never)).toThrow(TokencapConfigError);
      }),
    );
  });

  it('refuses an options object that inherits its fields', () => {
    fc.assert(
      fc.property(HOSTILE, (fields) => {
        expect(() => resolveTokencapOptions(Object.create(fields) as never)).toThrow(
          /TokencapModule options .* must be a plain object/,
        );
      }),
    );
  });

  it('refuses inherited scopes and prices', () => {
    const scopes = Object.create({ session: () => 'k' }) as Record<string, never>;
    expect(() => resolveTokencapOptions({ scopes })).toThrow(
      /option "scopes" must be a plain object/,
    );
    const prices = JSON.parse('{"__proto__": {"gpt-4o": {"input": 0, "output": 0}}}') as never;
    expect(() => resolveTokencapOptions({ prices })).toThrow(
      /option "prices" must be a plain object/,
    );
    const price = Object.create({ input: 0, output: 0 }) as never;
    expect(() => resolveTokencapOptions({ prices: { m: price } })).toThrow(
      /option "prices\["m"\]" must be a plain object/,
    );
    expect(() => resolveTokencapOptions({ defaultPrice: price })).toThrow(
      /option "defaultPrice" must be a plain object/,
    );
  });

  it('accepts plain and null-prototype objects', () => {
    expect(resolveTokencapOptions({ policy: 'notify' }).policy).toBe('notify');
    const bare = Object.assign(Object.create(null) as object, { policy: 'degrade' });
    expect(resolveTokencapOptions(bare as never).policy).toBe('degrade');
  });

  it('fails the bootstrap of forRoot() and forRootAsync() with hostile JSON', async () => {
    const hostile = () =>
      JSON.parse('{"__proto__": {"policy": "notify"}}') as TokencapModuleOptions;
    // forRoot() refuses it at once, before Nest's builder copies its own keys.
    expect(() => TokencapModule.forRoot(hostile())).toThrow(TokencapConfigError);
    const error = await Test.createTestingModule({
      imports: [TokencapModule.forRootAsync({ useFactory: hostile })],
    })
      .compile()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(TokencapConfigError);
  });
});

describe('@Budget arguments are read from the objects themselves', () => {
  const decorate = (limit: unknown, options: unknown) => () => {
    class Target {
      method() {}
    }
    const descriptor = Object.getOwnPropertyDescriptor(Target.prototype, 'method')!;
    Budget('session', limit as never, options as never)(Target.prototype, 'method', descriptor);
  };

  it('refuses options or a limit that inherit their fields, or carry a "__proto__" key', () => {
    fc.assert(
      fc.property(HOSTILE, (fields) => {
        expect(decorate(100, Object.create(fields))).toThrow(/must be a plain object/);
        expect(decorate(100, JSON.parse(`{"__proto__": ${JSON.stringify(fields)}}`))).toThrow(
          TokencapConfigError,
        );
      }),
    );
    expect(decorate(Object.create({ tokens: 100 }), {})).toThrow(
      /limit of .* must be a plain object/,
    );
    expect(decorate(JSON.parse('{"__proto__": {"tokens": 100}, "usd": 1}'), {})).toThrow(
      /limit of .* must be a plain object/,
    );
  });
});
