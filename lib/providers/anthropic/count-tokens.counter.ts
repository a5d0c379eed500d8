import { quoteClientValue, TokencapError } from '../../errors.js';
import { record, tokenCount } from '../../metering/json.guards.js';
import type { InputCount, RequestBody } from '../../metering/provider-endpoint.interface.js';
import { estimateMessagesInput } from './messages-request.estimator.js';

/** The `countTokens` method of a client's `messages` (or `beta.messages`) resource. */
export type CountTokensMethod = (params: Record<string, unknown>) => PromiseLike<unknown>;

// The fields `count_tokens` takes: the prompt, never the sampling or output settings. `betas` is
// the beta resource's header parameter; `user_profile_id` / `workspace_id` become headers.
const COUNT_FIELDS = [
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
  'cache_control',
  'output_config',
  'speed',
  'betas',
  'mcp_servers',
  'context_management',
  'user_profile_id',
  'workspace_id',
] as const;

/**
 * Counts a request's input with Anthropic's `count_tokens` endpoint (one extra round trip, free,
 * exact for what `/v1/messages` will bill). Fails closed: when the count fails (an HTTP error after
 * the SDK's retries, a timeout, a connection error), that error is thrown as the SDK threw it and
 * nothing is reserved or sent; an answer without a whole `input_tokens` throws a `TokencapError`.
 * The cache-write shares (for dollar reservations) are the estimator's, capped by the exact total.
 */
export async function countWithApi(
  countTokens: CountTokensMethod,
  body: RequestBody,
  model: string,
): Promise<InputCount> {
  const params: Record<string, unknown> = { model };
  for (const field of COUNT_FIELDS) {
    if (body[field] !== undefined) params[field] = body[field];
  }
  // The beta's deprecated `output_format` goes out as `output_config.format` (the SDK moves it so
  // on `create`; moved here too, so the count holds it whatever the SDK's `countTokens` does).
  if (body.output_format !== undefined && body.output_format !== null) {
    params.output_config = { ...record(body.output_config), format: body.output_format };
  }
  const answer = await countTokens(params);
  const inputTokens = tokenCount(record(answer)?.input_tokens);
  if (inputTokens === undefined) {
    throw new TokencapError(
      `wrapAnthropic: messages.countTokens answered without a whole input_tokens ` +
        `(${quoteClientValue(record(answer)?.input_tokens ?? null)}), so the request for model ` +
        `${quoteClientValue(model)} was not sent (counting: 'api' fails closed).`,
    );
  }
  const estimate = estimateMessagesInput(body, model);
  const count: InputCount = { inputTokens };
  const oneHour = Math.min(estimate.cacheWrite1hTokens ?? 0, inputTokens);
  const fiveMinutes = Math.min(estimate.cacheWrite5mTokens ?? 0, inputTokens - oneHour);
  if (oneHour > 0) count.cacheWrite1hTokens = oneHour;
  if (fiveMinutes > 0) count.cacheWrite5mTokens = fiveMinutes;
  return count;
}
