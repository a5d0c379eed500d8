import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { describeLedgerOperationsContract } from '../../contract/ledger-operations.contract.js';

describeLedgerOperationsContract('MemoryLedgerStore', async () => {
  const store = new MemoryLedgerStore({ sweepInterval: false });
  return { store, close: () => store.close() };
});
