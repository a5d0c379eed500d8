import { SetMetadata } from '@nestjs/common';
import { TokencapConfigError } from '../errors.js';

/** Metadata key under which `@SkipBudget` stores whether a handler runs without its budgets. */
export const SKIP_BUDGET_METADATA = 'tokencap:skip-budget';

/**
 * Runs a controller handler (or every handler of a controller) without the `@Budget`s declared on
 * it or its class, as `@SkipThrottle()` does for `@nestjs/throttler`. Only the handler's own
 * budgets are skipped: a budgeted service method it calls still opens, and refuses, as usual, and
 * a handler called inside budgets opened by its caller stays inside them. `@SkipBudget(false)` on a
 * handler opts it back in under a skipped class. No RateLimit headers are sent for a skipped handler.
 * @example
 * ```ts
 * @SkipBudget()
 * @Get('health')
 * health() { return { ok: true }; }
 * ```
 */
export function SkipBudget(skip = true): ClassDecorator & MethodDecorator {
  if (typeof skip !== 'boolean') {
    throw new TokencapConfigError(
      `Invalid argument ${JSON.stringify(skip)} of @SkipBudget(): expected true, false or nothing.`,
    );
  }
  return SetMetadata(SKIP_BUDGET_METADATA, skip);
}
