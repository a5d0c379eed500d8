import { Controller, Injectable, Post, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { describe, expect, it } from 'vitest';
import { TokencapConfigError } from '../../lib/errors.js';
import { Budget } from '../../lib/nest/budget.decorator.js';
import type { TokencapModuleOptions } from '../../lib/nest/tokencap-options.interface.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { fixtureScopes } from '../fixtures/scopes.fixture.js';

/** Compiles and initialises an app; resolves to the error it failed with. */
async function bootstrapError(
  metadata: Parameters<typeof Test.createTestingModule>[0],
): Promise<unknown> {
  try {
    const moduleRef = await Test.createTestingModule(metadata).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    try {
      await app.init();
    } finally {
      await app.close();
    }
  } catch (error) {
    return error;
  }
  throw new Error('bootstrap succeeded');
}

async function optionsError(options: unknown): Promise<unknown> {
  return bootstrapError({ imports: [TokencapModule.forRoot(options as TokencapModuleOptions)] });
}

describe('bootstrap validation', () => {
  it('rejects a @Budget on a controller naming an unknown scope, naming the method and the known scopes', async () => {
    @Controller('bad')
    class BadController {
      @Post()
      @Budget('sesion', 100)
      ask() {}
    }
    const error = await bootstrapError({
      imports: [TokencapModule.forRoot({ scopes: fixtureScopes })],
      controllers: [BadController],
    });
    expect(error).toBeInstanceOf(TokencapConfigError);
    expect((error as Error).message).toBe(
      `@Budget('sesion') on BadController.ask names an unknown scope "sesion"; known scopes: ` +
        `request, task, global, session, user. Add a resolver for it in ` +
        `TokencapModule.forRoot({ scopes: { sesion: (request) => key } }).`,
    );
  });

  it('rejects an unknown scope on a provider method and on a class', async () => {
    @Injectable()
    class BadService {
      @Budget('tenant', 100)
      async run() {}
    }
    expect(
      (
        (await bootstrapError({
          imports: [TokencapModule.forRoot()],
          providers: [BadService],
        })) as Error
      ).message,
    ).toMatch(
      /^@Budget\('tenant'\) on BadService\.run names an unknown scope "tenant"; known scopes: request, task, global\./,
    );

    @Controller('bad')
    @Budget('tenant', 100)
    class BadClassController {}
    expect(
      (
        (await bootstrapError({
          imports: [TokencapModule.forRoot()],
          controllers: [BadClassController],
        })) as Error
      ).message,
    ).toMatch(/^@Budget\('tenant'\) on BadClassController names an unknown scope/);
  });

  it("checks degrade-only options against the module's default policy", async () => {
    @Injectable()
    class DegradeService {
      @Budget('task', 100, { fallbackModel: 'gpt-4o-mini' })
      async run() {}
    }
    const error = await bootstrapError({
      imports: [TokencapModule.forRoot()],
      providers: [DegradeService],
    });
    expect((error as Error).message).toBe(
      `fallbackModel of @Budget('task') on DegradeService.run only apply to policy 'degrade', but its policy is 'hard-stop'.`,
    );
    // With the module defaulting to 'degrade', the same declaration is valid.
    const moduleRef = await Test.createTestingModule({
      imports: [TokencapModule.forRoot({ policy: 'degrade' })],
      providers: [DegradeService],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    await app.close();
  });

  it.each([
    ['an async arrow function', () => async () => 'paid'],
    ['an arrow function', () => () => 'paid'],
    ['a bound function', () => function ask() {}.bind(null)],
  ])(
    'rejects a class-level @Budget provider with an own function property (%s), naming it',
    async (_, make) => {
      @Injectable()
      @Budget('task', 100)
      class ArrowService {
        ask = make();
        async run() {}
      }
      const error = await bootstrapError({
        imports: [TokencapModule.forRoot()],
        providers: [ArrowService],
      });
      expect(error).toBeInstanceOf(TokencapConfigError);
      expect((error as Error).message).toBe(
        '@Budget on ArrowService: the property ArrowService.ask is a function set on the instance ' +
          '(an arrow function), which a class-level @Budget cannot wrap. Make ask a method, or move ' +
          'it out of ArrowService.',
      );
    },
  );

  it('accepts a class-level @Budget provider whose own properties are data or classes', async () => {
    @Injectable()
    @Budget('task', 100)
    class DataService {
      count = 1;
      kind = Error;
      async run() {}
    }
    const moduleRef = await Test.createTestingModule({
      imports: [TokencapModule.forRoot()],
      providers: [DataService],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    await app.close();
  });

  it('rejects a budgeted request-scoped provider', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @Budget('task', 100)
      async run() {}
    }
    const error = await bootstrapError({
      imports: [TokencapModule.forRoot()],
      providers: [PerRequest],
    });
    expect((error as Error).message).toMatch(
      /^@Budget on PerRequest: request-scoped \(or request-dependent\) providers cannot be budgeted\./,
    );
  });

  it.each([
    [
      { policy: 'stop' },
      `Invalid policy "stop" for TokencapModule option "policy": expected one of 'hard-stop', 'degrade', 'notify'.`,
    ],
    [
      { thresholds: [0.8, 1.5] },
      `Invalid threshold 1.5 for TokencapModule option "thresholds": each threshold must be a number in (0, 1].`,
    ],
    [
      { thresholds: 0.8 },
      `Invalid thresholds 0.8 for TokencapModule option "thresholds": expected an array of numbers in (0, 1].`,
    ],
    [
      { onStoreError: 'ignore' },
      `Invalid TokencapModule option "onStoreError": "ignore". Expected 'fail-closed' or 'fail-open'.`,
    ],
    [
      { onMissingKey: 'allow' },
      `Invalid TokencapModule option "onMissingKey": "allow". Expected 'refuse' or 'skip'.`,
    ],
    [
      { reservationTtl: '15 minutes' },
      `Invalid TokencapModule option "reservationTtl": "15 minutes". Expected a whole number of milliseconds ≥ 1 or a string such as '500ms', '30s', '1m', '1h' or '1d'.`,
    ],
    [
      { scopes: { session: 'x-session-id' } },
      `Invalid TokencapModule option "scopes.session": expected a function (request, context) => key, got string.`,
    ],
    [
      { scopes: { request: () => 'x' } },
      `Invalid TokencapModule option "scopes.request": "request" is a built-in scope (request, task, global) and cannot be redefined.`,
    ],
    [
      { scopes: { 'bad scope': () => 'x' } },
      `Scope name in TokencapModule option "scopes": "bad scope" is invalid: expected 1-64 letters, digits, '_', '.' or '-'.`,
    ],
    [
      { scopes: [] },
      `Invalid TokencapModule option "scopes": expected an object mapping each scope name to a resolver function.`,
    ],
    [
      { store: { reserve: () => undefined } },
      `Invalid TokencapModule option "store": expected a LedgerStore (such as MemoryLedgerStore or RedisLedgerStore), but it has no commit, release, snapshot method.`,
    ],
    [
      { logger: console.log },
      `Invalid TokencapModule option "logger": expected an object with a warn(message) method.`,
    ],
    [
      { tresholds: [0.5] },
      `Unknown option "tresholds" for TokencapModule; known options: scopes, thresholds, policy, store, onStoreError, reservationTtl, onMissingKey, logger, prices, defaultPrice, headers, skipIf.`,
    ],
  ])('rejects module options %j', async (options, message) => {
    const error = await optionsError(options);
    expect(error).toBeInstanceOf(TokencapConfigError);
    expect((error as Error).message).toBe(message);
  });

  it('validates forRootAsync options at bootstrap too', async () => {
    const error = await bootstrapError({
      imports: [TokencapModule.forRootAsync({ useFactory: () => ({ policy: 'stop' as never }) })],
    });
    expect((error as Error).message).toMatch(
      /^Invalid policy "stop" for TokencapModule option "policy"/,
    );
  });
});

describe('forRoot and forRootAsync refuse the same bad options objects', () => {
  class Opts {
    get policy() {
      return 'notify';
    }
  }
  const INHERITS = 'must be a plain object, with its options as its own properties: it inherits';
  const CASES: [string, () => unknown, string][] = [
    [
      'null',
      () => null,
      'Invalid TokencapModule options null (%s): expected a plain object of options.',
    ],
    [
      'an array',
      () => [],
      'Invalid TokencapModule options [] (%s): expected a plain object of options.',
    ],
    [
      'a string',
      () => 'notify',
      'Invalid TokencapModule options "notify" (%s): expected a plain object of options.',
    ],
    ['a class instance', () => new Opts(), `TokencapModule options (%s) ${INHERITS}`],
    [
      'an object with inherited options',
      () => Object.create({ policy: 'notify' }),
      `TokencapModule options (%s) ${INHERITS}`,
    ],
  ];

  it.each(CASES)('forRoot(%s)', (_name, value, message) => {
    expect(() => TokencapModule.forRoot(value() as TokencapModuleOptions)).toThrow(
      TokencapConfigError,
    );
    expect(() => TokencapModule.forRoot(value() as TokencapModuleOptions)).toThrow(
      message.replace('%s', 'forRoot'),
    );
  });

  it.each([
    ...CASES,
    [
      'undefined',
      () => undefined,
      'Invalid TokencapModule options undefined (%s): expected a plain object of options.',
    ] as const,
  ])('forRootAsync resolving %s', async (_name, value, message) => {
    const error = await bootstrapError({
      imports: [
        TokencapModule.forRootAsync({ useFactory: async () => value() as TokencapModuleOptions }),
      ],
    });
    expect(error).toBeInstanceOf(TokencapConfigError);
    expect((error as Error).message).toContain(
      message.replace('%s', 'forRoot, or what forRootAsync resolved'),
    );
  });
});

describe('decoration-time validation', () => {
  const define = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(TokencapConfigError);
      return (error as Error).message;
    }
    throw new Error('no error');
  };

  it.each([
    [
      () => {
        class A {
          @Budget('session', -5)
          m() {}
        }
        return A;
      },
      `Invalid limit -5 for @Budget('session') on A.m: expected a whole number of tokens ≥ 1, or an object with any of tokens, usd, requests.`,
    ],
    [
      () => {
        class A {
          @Budget('session', { dollars: 5 } as never)
          m() {}
        }
        return A;
      },
      `Invalid limit for @Budget('session') on A.m: unknown dimension "dollars"; expected tokens, usd or requests.`,
    ],
    [
      () => {
        class A {
          @Budget('session', 100, { policy: 'stop' as never })
          m() {}
        }
        return A;
      },
      `Invalid policy "stop" for @Budget('session') on A.m: expected one of 'hard-stop', 'degrade', 'notify'.`,
    ],
    [
      () => {
        class A {
          @Budget('session', 100, { thresholds: [0, 0.5] })
          m() {}
        }
        return A;
      },
      `Invalid threshold 0 for @Budget('session') on A.m: each threshold must be a number in (0, 1].`,
    ],
    [
      () => {
        class A {
          @Budget('session', 100, { window: '1 hour' as never })
          m() {}
        }
        return A;
      },
      `Invalid window of @Budget('session') on A.m: "1 hour". Expected a whole number of milliseconds ≥ 1 or a string such as '500ms', '30s', '1m', '1h' or '1d', or a calendar window: 'day', 'week' or 'month'.`,
    ],
    [
      () => {
        class A {
          @Budget('my session', 100)
          m() {}
        }
        return A;
      },
      `@Budget('my session') on A.m: scope "my session" is invalid: expected 1-64 letters, digits, '_', '.' or '-'.`,
    ],
    [
      () => {
        class A {
          @Budget('session', 100, { policy: 'hard-stop', fallbackModel: 'mini' })
          m() {}
        }
        return A;
      },
      `fallbackModel of @Budget('session') on A.m only apply to policy 'degrade', but its policy is 'hard-stop'.`,
    ],
    [
      () => {
        class A {
          @Budget('session', 100)
          @Budget('session', 200)
          m() {}
        }
        return A;
      },
      `@Budget('session') on A.m: scope "session" is declared twice with no window; one budget per scope and window on a method (two windows, e.g. '1h' and '1d', are two budgets).`,
    ],
    [
      () => {
        class A {
          @Budget('user', 100, { window: '1h' })
          @Budget('user', 200, { window: 3_600_000 })
          m() {}
        }
        return A;
      },
      `@Budget('user') on A.m: scope "user" is declared twice with the same window ("1h"); one budget per scope and window on a method (two windows, e.g. '1h' and '1d', are two budgets).`,
    ],
    [
      () => {
        class A {
          @Budget('session', 100)
          static m() {}
        }
        return A;
      },
      `@Budget('session') on A.m: @Budget goes on a class or an instance method, not on a static method, getter or property.`,
    ],
    [
      () => {
        class A {
          @Budget('session', 100)
          get m() {
            return 1;
          }
        }
        return A;
      },
      `@Budget('session') on A.m: @Budget goes on a class or an instance method, not on a static method, getter or property.`,
    ],
    [
      () => {
        @Budget('session', 0)
        class A {}
        return A;
      },
      `Invalid limit 0 for @Budget('session') on A: expected a whole number of tokens ≥ 1, or an object with any of tokens, usd, requests.`,
    ],
  ])('rejects bad @Budget arguments when the class is defined (%#)', (fn, message) => {
    expect(define(fn)).toBe(message);
  });
});
