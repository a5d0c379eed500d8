import type { LanguageModelV4Usage } from '@ai-sdk/provider';
import { record, tokenCount } from '../../metering/json.guards.js';
import type { ReportedUsage } from '../../metering/provider-endpoint.interface.js';
import { readInputUsage } from '../../providers/anthropic/anthropic-usage.reader.js';

/**
 * The usage an AI SDK result or `finish` part reports, cache reads from `inputTokens.cacheRead` (as
 * every provider package fills it). Anthropic's raw usage, where present, gives the cache writes of
 * each lifetime; elsewhere cache writes are priced at the dearer 1-hour rate.
 */
export function readUsage(
  usage: LanguageModelV4Usage | undefined,
  model: string | undefined,
): ReportedUsage | undefined {
  if (!usage) return undefined;
  const input = record(usage.inputTokens);
  const output = record(usage.outputTokens);
  const reported: ReportedUsage = {
    inputTokens: tokenCount(input?.total),
    outputTokens: tokenCount(output?.total),
    cachedInputTokens: tokenCount(input?.cacheRead),
    cacheWrite1hTokens: tokenCount(input?.cacheWrite),
    reasoningTokens: tokenCount(output?.reasoning),
    model,
  };
  const anthropic = anthropicUsage(usage.raw) ? readInputUsage(usage.raw) : undefined;
  if (anthropic && anthropic.inputTokens === reported.inputTokens)
    Object.assign(reported, anthropic);
  return reported;
}

/**
 * Whether raw usage is Anthropic's. OpenAI's Responses usage has an `input_tokens` too, but keeps
 * its cache reads in `input_tokens_details`: read as Anthropic's, it would have none.
 */
function anthropicUsage(raw: unknown): boolean {
  const usage = record(raw);
  if (!usage) return false;
  return (
    Object.hasOwn(usage, 'cache_read_input_tokens') ||
    Object.hasOwn(usage, 'cache_creation_input_tokens')
  );
}
