import type { BilledUsage, BillingTally } from './billing.tally.js';
import type { FakeFault } from './fault.injector.js';

/** The usage numbers to put on the wire. */
export interface ReportedUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

/** How a handler renders usage for its API, e.g. `{ prompt_tokens, ... }` or `{ input_tokens, ... }`. */
export interface UsageFormat<T> {
  format(usage: ReportedUsage): T;
  /** What `malformed-usage` sends when the fault carries no payload of its own. */
  malformed: unknown;
}

/**
 * Returns the usage object to send for `actual` under `fault` (`undefined` means "send none"), and
 * adds well-formed reports to `tally.reported` so tests can compare what clients were told with
 * what was billed.
 */
export function reportUsage<T>(
  actual: BilledUsage,
  fault: FakeFault | undefined,
  tally: BillingTally,
  shape: UsageFormat<T>,
): T | unknown {
  switch (fault?.kind) {
    case 'omit-usage':
      return undefined;
    case 'malformed-usage':
      return fault.usage ?? shape.malformed;
    case 'over-report-usage': {
      const factor = fault.factor ?? 2;
      const extra = fault.extraTokens ?? 0;
      const inflated: ReportedUsage = {
        promptTokens: Math.ceil(actual.promptTokens * factor) + extra,
        completionTokens: Math.ceil(actual.completionTokens * factor) + extra,
        cachedTokens: actual.cachedTokens,
        reasoningTokens: actual.reasoningTokens,
      };
      tally.report(inflated.promptTokens, inflated.completionTokens);
      return shape.format(inflated);
    }
    default:
      tally.report(actual.promptTokens, actual.completionTokens);
      return shape.format(actual);
  }
}
