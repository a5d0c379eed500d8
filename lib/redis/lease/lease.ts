import { type Amounts, DIMENSIONS, type Dimension } from '../../core/budget.js';

/** The number of dimensions: leases keep amounts as vectors indexed like DIMENSIONS. */
export const NDIM = DIMENSIONS.length;

let leaseSequence = 0;
const leaseTag = Math.random().toString(36).slice(2, 10);

/** A reservation id unique across replicas (`lease:…` for a lease, `charge:…` for a charge). */
export function leaseId(kind: 'lease' | 'charge'): string {
  return `${kind}:${leaseTag}-${++leaseSequence}`;
}

/** One chunk of a leased budget held by this replica: a reservation in Redis under `id`. */
export class Lease {
  readonly held: number[] = new Array<number>(NDIM).fill(0);
  readonly spent: number[] = new Array<number>(NDIM).fill(0);
  inflight = 0;
  retired = false;
  /** The settlement under way (callers awaiting it share it). */
  settlement: Promise<void> | undefined;
  /** A settlement attempt failed in a way that may have applied it: retries must not count twice. */
  ambiguous = false;
  lastUsed: number;
  readonly acquiredAt: number;
  /** When Redis last confirmed it held this lease (ledger clock; -Infinity: unsure, confirm first). */
  confirmedAt: number;
  confirming: Promise<void> | undefined;
  /** When the budget's window at acquisition ends (none: the budget has no window). */
  windowEnd: number | undefined;

  constructor(
    readonly id: string,
    readonly granted: number[],
    public expiresAt: number,
    now: number,
  ) {
    this.lastUsed = now;
    this.acquiredAt = now;
    this.confirmedAt = now;
  }

  free(d: number): number {
    return this.granted[d] - this.held[d] - this.spent[d];
  }
}

export interface Hold {
  lease: Lease;
  amounts: number[];
  expiresAt: number;
}

export function vector(amounts: Amounts): number[] {
  return DIMENSIONS.map((dim) => amounts[dim] ?? 0);
}

export function toAmounts(v: readonly number[]): Amounts {
  const out: Amounts = {};
  v.forEach((n, d) => {
    if (n !== 0) out[DIMENSIONS[d] as Dimension] = n;
  });
  return out;
}
