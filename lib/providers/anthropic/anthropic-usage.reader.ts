import { record, tokenCount } from '../../metering/json.guards.js';
import type { ReportedUsage } from '../../metering/provider-endpoint.interface.js';

/** The input side of an Anthropic usage object, in the library's vocabulary. */
export type InputUsage = Pick<
  ReportedUsage,
  'inputTokens' | 'cachedInputTokens' | 'cacheWrite5mTokens' | 'cacheWrite1hTokens'
>;

/**
 * Reads the input of an Anthropic `usage` object. Anthropic's `input_tokens` leaves out cache reads
 * and writes; the library's `inputTokens` holds every input token, so it is their sum, with
 * `cachedInputTokens` the reads and `cacheWrite5mTokens` / `cacheWrite1hTokens` the writes of each
 * lifetime (`cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`). Cache writes
 * whose lifetime is not said (no `cache_creation` breakdown, or one that does not add up) are
 * priced as 1-hour writes, the dearer rate. A count that is present but malformed (negative,
 * fractional, not a number) makes the whole input unreadable: `undefined`, so the call is settled
 * from Tokencap's own count rather than from part of the provider's.
 */
export function readInputUsage(value: unknown): InputUsage | undefined {
  const usage = record(value);
  if (!usage) return undefined;
  const uncached = tokenCount(usage.input_tokens);
  const read = optionalCount(usage.cache_read_input_tokens);
  const written = optionalCount(usage.cache_creation_input_tokens);
  if (uncached === undefined || read === undefined || written === undefined) return undefined;
  const split = writeSplit(usage.cache_creation, written);
  if (!split) return undefined;
  return {
    inputTokens: uncached + read + written,
    cachedInputTokens: read,
    cacheWrite5mTokens: split.fiveMinutes,
    cacheWrite1hTokens: split.oneHour,
  };
}

/** `output_tokens` (thinking included) and `output_tokens_details.thinking_tokens`. */
export function readOutputUsage(
  value: unknown,
): Pick<ReportedUsage, 'outputTokens' | 'reasoningTokens'> {
  const usage = record(value);
  const outputTokens = tokenCount(usage?.output_tokens);
  const reasoningTokens = tokenCount(record(usage?.output_tokens_details)?.thinking_tokens);
  return { outputTokens, reasoningTokens };
}

/** The usage of a whole `Message` (a non-streamed response), with the model that answered. */
export function messageUsage(data: unknown): ReportedUsage | undefined {
  const message = record(data);
  const usage = record(message?.usage);
  if (!usage) return undefined;
  const reported: ReportedUsage = { ...readInputUsage(usage), ...readOutputUsage(usage) };
  if (typeof message?.model === 'string') reported.model = message.model;
  return reported;
}

// `null` and absence mean none (the SDK types these counts `number | null`).
function optionalCount(value: unknown): number | undefined {
  return value === undefined || value === null ? 0 : tokenCount(value);
}

function writeSplit(
  value: unknown,
  written: number,
): { fiveMinutes: number; oneHour: number } | undefined {
  const creation = record(value);
  if (!creation) return { fiveMinutes: 0, oneHour: written };
  const fiveMinutes = optionalCount(creation.ephemeral_5m_input_tokens);
  const oneHour = optionalCount(creation.ephemeral_1h_input_tokens);
  if (fiveMinutes === undefined || oneHour === undefined) return undefined;
  if (fiveMinutes + oneHour === written) return { fiveMinutes, oneHour };
  // A breakdown that does not add up: what it leaves unexplained is priced at the 1-hour rate.
  const known5m = Math.min(fiveMinutes, written);
  return { fiveMinutes: known5m, oneHour: written - known5m };
}
