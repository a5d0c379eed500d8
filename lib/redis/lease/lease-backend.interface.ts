import type { Budget } from '../../core/budget.js';
import type {
  CommitInput,
  CommitOutcome,
  ReleaseInput,
  ReserveInput,
  ReserveOutcome,
} from '../../core/ledger-store.interface.js';

/** What a pool asks of Redis: the store's scripts on the leased budget alone. */
export interface LeaseBackend {
  reserve(input: ReserveInput): Promise<ReserveOutcome>;
  commit(input: CommitInput): Promise<CommitOutcome>;
  release(input: ReleaseInput): Promise<boolean>;
  /** Moves a held lease's expiry; resolves whether Redis still holds it (false: it forgot it). */
  extend(budget: Budget, id: string, expiresAt: number, now: number): Promise<boolean>;
  /** Receives the thresholds a lease's settlement crossed (once per budget and window). */
  crossed(budgets: readonly Budget[], outcome: CommitOutcome, at: number): void;
}
