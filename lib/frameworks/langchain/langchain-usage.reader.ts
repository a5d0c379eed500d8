import { record, tokenCount } from '../../metering/json.guards.js';
import type { ReportedUsage } from '../../metering/provider-endpoint.interface.js';

/**
 * Reads an AIMessage's `usage_metadata` in the library's vocabulary. LangChain's `input_tokens`
 * already holds every input token (cache reads and writes included), as the library's does;
 * `input_token_details.cache_read` is the cached part, `cache_creation` the part written to a
 * prompt cache (priced as 1-hour writes unless the 5-minute/1-hour split is given), and
 * `output_token_details.reasoning` the hidden reasoning. Malformed counts read as absent.
 */
export function readUsageMetadata(value: unknown): ReportedUsage | undefined {
  const usage = record(value);
  if (!usage) return undefined;
  const input = record(usage.input_token_details);
  const output = record(usage.output_token_details);
  const reported: ReportedUsage = {
    inputTokens: tokenCount(usage.input_tokens),
    outputTokens: tokenCount(usage.output_tokens),
  };
  const cached = tokenCount(input?.cache_read);
  if (cached !== undefined && cached > 0) reported.cachedInputTokens = cached;
  const written = tokenCount(input?.cache_creation);
  if (written !== undefined && written > 0) {
    const fiveMinutes = Math.min(tokenCount(input?.ephemeral_5m_input_tokens) ?? 0, written);
    reported.cacheWrite5mTokens = fiveMinutes;
    reported.cacheWrite1hTokens = written - fiveMinutes;
  }
  const reasoning = tokenCount(output?.reasoning);
  if (reasoning !== undefined && reasoning > 0) reported.reasoningTokens = reasoning;
  return reported;
}

/** The model a message's `response_metadata` says answered (`model_name` or `model`). */
export function answeringModel(metadata: unknown): string | undefined {
  const meta = record(metadata);
  const name = meta?.model_name ?? meta?.model;
  return typeof name === 'string' && name !== '' ? name : undefined;
}
