import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { TokencapModuleOptions } from './tokencap-options.interface.js';

/** Extra options of `forRoot()` / `forRootAsync()` that shape the module rather than the budgets. */
export interface TokencapModuleExtras {
  /** Register the module globally, so `BudgetService` can be injected everywhere. @default true */
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: ConfigurableTokencapModule,
  MODULE_OPTIONS_TOKEN: TOKENCAP_MODULE_OPTIONS,
  OPTIONS_TYPE: TOKENCAP_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: TOKENCAP_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<TokencapModuleOptions>({ moduleName: 'Tokencap' })
  .setClassMethodName('forRoot')
  .setExtras<TokencapModuleExtras>({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

/** The argument of `TokencapModule.forRoot()`. */
export type TokencapModuleRootOptions = typeof TOKENCAP_OPTIONS_TYPE;
/** The argument of `TokencapModule.forRootAsync()`: `{ imports, inject, useFactory }`, `useClass` or `useExisting`. */
export type TokencapModuleAsyncOptions = typeof TOKENCAP_ASYNC_OPTIONS_TYPE;
