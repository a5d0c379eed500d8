import { quoteClientValue, TokencapRequestError } from '../errors.js';

/**
 * A `usd` budget applies to a call whose model has no price, so the call was refused before it was
 * sent. A request error (HTTP 400 in Nest): the request named a model the app has no price for.
 */
export class PriceUnknownError extends TokencapRequestError {
  constructor(readonly model: string) {
    // The model name comes from the request: quoted and cut, so it cannot forge a log line.
    super('model', model, 'no price is known for it', {
      message:
        `No price for model ${quoteClientValue(model)}, so a call under a usd budget cannot be bounded and was refused. ` +
        `Add it with the prices option (USD per 1M tokens: { input, cachedInput?, output }) or set defaultPrice.`,
    });
  }
}
