import { type DynamicModule, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { Ledger } from '../core/ledger.js';
import { bindModelCatalog } from '../models/catalog.binding.js';
import { BudgetExceptionFilter } from './budget-exception.filter.js';
import { BudgetExplorer } from './budget.explorer.js';
import { BudgetHeadersWriter } from './budget-headers.writer.js';
import { BudgetInterceptor } from './budget.interceptor.js';
import { BudgetRequestContext } from './budget-request.context.js';
import { BudgetResolver } from './budget.resolver.js';
import { BudgetRunner } from './budget.runner.js';
import { BudgetService } from './budget.service.js';
import { GraphqlFieldBudgets } from './transports/graphql-field.budgets.js';
import type { TokencapModuleOptions } from './tokencap-options.interface.js';
import {
  assertModuleOptions,
  type ResolvedTokencapOptions,
  resolveTokencapOptions,
  TOKENCAP_OPTIONS,
} from './tokencap-options.validator.js';
import {
  ConfigurableTokencapModule,
  TOKENCAP_MODULE_OPTIONS,
  type TokencapModuleRootOptions,
} from './tokencap.module-definition.js';

/**
 * Token budgets for a Nest app. Global by default; owns one {@link Ledger} per app (closed, and
 * `events$` completed, on shutdown), the budget interceptor and the 429/400/503 exception filter.
 * Options are validated at bootstrap; a bad one fails with a `TokencapConfigError` naming it.
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     TokencapModule.forRoot({ scopes: { session: (req) => req?.headers['x-session-id'] } }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: TOKENCAP_OPTIONS,
      useFactory: (options: TokencapModuleOptions) => resolveTokencapOptions(options),
      inject: [TOKENCAP_MODULE_OPTIONS],
    },
    {
      provide: Ledger,
      useFactory: (options: ResolvedTokencapOptions, resolver: BudgetResolver) => {
        const ledger = new Ledger({
          store: options.store,
          reservationTtl: options.reservationTtlMs,
          onStoreError: options.onStoreError,
          logger: options.logger,
        });
        // Wrapped clients find the app's prices through the ledger of the budget frame.
        bindModelCatalog(ledger, options.catalog);
        // Usage charged through one @Budget fires the thresholds of the app's other @Budgets of
        // that ledger (same scope and window), whichever route they are on.
        ledger.addSiblingSource((budget) => resolver.siblingsOf(budget));
        return ledger;
      },
      inject: [TOKENCAP_OPTIONS, BudgetResolver],
    },
    BudgetRequestContext,
    BudgetResolver,
    BudgetRunner,
    BudgetService,
    BudgetExplorer,
    BudgetHeadersWriter,
    GraphqlFieldBudgets,
    { provide: APP_INTERCEPTOR, useClass: BudgetInterceptor },
    { provide: APP_FILTER, useClass: BudgetExceptionFilter },
  ],
  exports: [BudgetService, Ledger],
})
export class TokencapModule extends ConfigurableTokencapModule implements OnApplicationShutdown {
  constructor(private readonly ledger: Ledger) {
    super();
  }

  /**
   * Configures budgets from static options (every option has a default, so `forRoot()` works).
   * For options that depend on other providers (a config service, a Redis client), use
   * `forRootAsync({ imports, inject, useFactory })`.
   */
  static override forRoot(options: TokencapModuleRootOptions = {}): DynamicModule {
    // Checked before Nest's builder copies the object's own keys (losing what it inherits).
    assertModuleOptions(options, 'forRoot');
    return super.forRoot(options);
  }

  /** Closes the ledger: completes `events$` and closes the store (never a client you passed in). */
  async onApplicationShutdown(): Promise<void> {
    await this.ledger.close();
  }
}
