import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { TokencapConfigError } from '../errors.js';
import { SKIP_BUDGET_METADATA } from './skip-budget.decorator.js';

/**
 * Whether the handler of `context` runs without its own budgets: `@SkipBudget()` on it (else on
 * its class), or the module's `skipIf` returning `true`. The one rule the interceptor and
 * `BudgetService.runFor()` share.
 * @throws TokencapConfigError when `skipIf` returns anything but a boolean: a budget is never
 *   dropped on a value nobody meant as "skip".
 */
export function isSkipped(
  context: ExecutionContext,
  reflector: Reflector,
  skipIf: ((context: ExecutionContext) => boolean) | undefined,
): boolean {
  const marked = reflector.getAllAndOverride<boolean | undefined>(SKIP_BUDGET_METADATA, [
    context.getHandler(),
    context.getClass(),
  ]);
  // As with @nestjs/throttler, skipIf applies even where @SkipBudget(false) opted a handler back in.
  if (marked === true) return true;
  if (!skipIf) return false;
  const skip: unknown = skipIf(context);
  if (typeof skip !== 'boolean') {
    const got =
      typeof (skip as { then?: unknown } | null)?.then === 'function'
        ? 'a promise'
        : (JSON.stringify(skip) ?? typeof skip);
    throw new TokencapConfigError(
      `TokencapModule option "skipIf" returned ${got} for ${context.getClass().name}.${context.getHandler().name}; expected true or false.`,
    );
  }
  return skip;
}
