import type { TokencapEvent } from './events.js';

/** Whether `event` came from another replica through a relay (see `BudgetEventBase.relayed`). */
export function isRelayed(event: TokencapEvent): boolean {
  return event.type !== 'store-error' && event.relayed === true;
}
