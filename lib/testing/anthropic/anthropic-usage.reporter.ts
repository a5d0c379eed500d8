import type { AnthropicBilledUsage, AnthropicBillingTally } from './anthropic-billing.tally.js';
import type { FakeAnthropicFault } from './anthropic-fault.types.js';

/** Where a usage object goes: a `Message` (also inside `message_start`) or a `message_delta`. */
export type UsagePlace = 'message' | 'delta';

const MALFORMED = {
  input_tokens: null,
  output_tokens: 'many',
  cache_read_input_tokens: -1,
  cache_creation_input_tokens: '0',
};

/**
 * The `usage` object to send for `billed` under `fault`, or `undefined` to send none. With
 * `final`, a well-formed report is added to `tally.reported` (the message's usage, or the
 * `message_delta`'s; `message_start` only announces the input).
 */
export function wireUsage(
  billed: AnthropicBilledUsage,
  place: UsagePlace,
  fault: FakeAnthropicFault | undefined,
  tally: AnthropicBillingTally,
  final: boolean,
): Record<string, unknown> | undefined {
  if (fault?.kind === 'omit-usage') return undefined;
  if (fault?.kind === 'malformed-usage')
    return (fault.usage ?? MALFORMED) as Record<string, unknown>;
  const told = { ...billed, ...misreport(billed, fault) };
  const cacheCreation = told.cacheCreation5mInputTokens + told.cacheCreation1hInputTokens;
  if (final) {
    tally.report({
      inputTokens: told.inputTokens,
      cacheReadInputTokens: told.cacheReadInputTokens,
      cacheCreationInputTokens: cacheCreation,
      outputTokens: told.outputTokens,
    });
  }
  const details = told.thinkingTokens > 0 ? { thinking_tokens: told.thinkingTokens } : null;
  if (place === 'delta') {
    return {
      input_tokens: told.inputTokens,
      cache_creation_input_tokens: cacheCreation,
      cache_read_input_tokens: told.cacheReadInputTokens,
      output_tokens: told.outputTokens,
      output_tokens_details: details,
      server_tool_use: null,
    };
  }
  return {
    input_tokens: told.inputTokens,
    cache_creation_input_tokens: cacheCreation,
    cache_read_input_tokens: told.cacheReadInputTokens,
    cache_creation: {
      ephemeral_5m_input_tokens: told.cacheCreation5mInputTokens,
      ephemeral_1h_input_tokens: told.cacheCreation1hInputTokens,
    },
    output_tokens: told.outputTokens,
    output_tokens_details: details,
    server_tool_use: null,
    service_tier: 'standard',
    inference_geo: null,
    speed: null,
  };
}

/** The input count `count_tokens` reports under `fault` (`undefined`: leave it out). */
export function reportedTokenCount(
  inputTokens: number,
  fault: FakeAnthropicFault | undefined,
): unknown {
  if (fault?.kind === 'omit-usage') return undefined;
  if (fault?.kind === 'malformed-usage') return 'many';
  const billed = { inputTokens, outputTokens: 0 } as AnthropicBilledUsage;
  return misreport(billed, fault).inputTokens ?? inputTokens;
}

function misreport(
  billed: AnthropicBilledUsage,
  fault: FakeAnthropicFault | undefined,
): Partial<AnthropicBilledUsage> {
  if (fault?.kind === 'over-report-usage') {
    const factor = fault.factor ?? 2;
    const extra = fault.extraTokens ?? 0;
    return {
      inputTokens: Math.ceil(billed.inputTokens * factor) + extra,
      outputTokens: Math.ceil(billed.outputTokens * factor) + extra,
    };
  }
  if (fault?.kind === 'under-report-usage') {
    const factor = fault.factor ?? 0.5;
    const missing = fault.missingTokens ?? 0;
    return {
      inputTokens: Math.max(0, Math.floor(billed.inputTokens * factor) - missing),
      outputTokens: Math.max(0, Math.floor(billed.outputTokens * factor) - missing),
    };
  }
  return {};
}
