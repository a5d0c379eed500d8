import { resolveModel, sendJson, type AnthropicExchange } from './anthropic-exchange.js';
import { sendErrorFault, streamErrorAsHttp } from './anthropic-fault.types.js';
import { reportedTokenCount } from './anthropic-usage.reporter.js';
import { validateMessageRequest } from './message-request.validator.js';
import { layoutPrompt } from './prompt.layout.js';

/**
 * `POST /v1/messages/count_tokens`: `{ input_tokens }`, the total input `/v1/messages` would bill
 * for the same prompt (uncached, cache reads and cache writes together), from the same counter.
 * Free, as on the API: it adds to `tally.countTokensRequests`, never to the bill.
 */
export function handleCountTokens(exchange: AnthropicExchange): () => Promise<void> {
  const request = validateMessageRequest(exchange.request.body, 'count_tokens');
  const model = resolveModel(exchange, request.model);
  const layout = layoutPrompt(request, model);
  return async () => {
    const { fault, connection } = exchange;
    if (fault?.kind === 'stream-error') {
      return sendErrorFault(exchange.res, exchange.requestId, streamErrorAsHttp(fault));
    }
    if (fault?.kind === 'cut-stream') return connection.cut();
    if (connection.gone) return;
    exchange.tally.countTokensCall();
    const inputTokens = reportedTokenCount(layout.totalTokens, fault);
    sendJson(exchange, inputTokens === undefined ? {} : { input_tokens: inputTokens });
  };
}
