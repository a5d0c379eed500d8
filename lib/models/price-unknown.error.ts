import { quoteClientValue, TokencapError } from '../errors.js';

/** A `usd` budget applies to a call whose model has no price, so the call was refused before it was sent. */
export class PriceUnknownError extends TokencapError {
  constructor(readonly model: string) {
    // The model name comes from the request: quoted and cut, so it cannot forge a log line.
    super(
      `No price for model ${quoteClientValue(model)}, so a call under a usd budget cannot be bounded and was refused. ` +
        `Add it with the prices option (USD per 1M tokens: { input, cachedInput?, output }) or set defaultPrice.`,
    );
  }
}
