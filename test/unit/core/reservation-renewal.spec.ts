import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { describeReservationRenewalContract } from '../../contract/reservation-renewal.contract.js';

describeReservationRenewalContract('MemoryLedgerStore', async () => {
  const store = new MemoryLedgerStore({ sweepInterval: false });
  return { store, close: () => store.close() };
});
