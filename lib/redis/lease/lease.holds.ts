import { type Hold, type Lease, NDIM } from './lease.js';

/**
 * The calls a pool holds in its leases, by reservation id: what each holds, in which lease, until
 * when. Adding or taking a hold keeps its lease's `held` and `inflight` in step.
 */
export class LeaseHolds {
  private readonly byId = new Map<string, Hold>();

  get(reservationId: string): Hold | undefined {
    return this.byId.get(reservationId);
  }

  /** Every hold, by reservation id (taking or dropping holds while iterating is safe). */
  entries(): IterableIterator<[string, Hold]> {
    return this.byId.entries();
  }

  /** Holds `amounts` (a vector, copied) of a call in `lease` until `expiresAt`. */
  add(reservationId: string, lease: Lease, amounts: readonly number[], expiresAt: number): void {
    for (let d = 0; d < NDIM; d++) lease.held[d] += amounts[d];
    lease.inflight++;
    this.byId.set(reservationId, { lease, amounts: [...amounts], expiresAt });
  }

  /** Removes a call's hold from its lease and returns it; undefined when not held. */
  take(reservationId: string): Hold | undefined {
    const hold = this.byId.get(reservationId);
    if (!hold) return undefined;
    this.byId.delete(reservationId);
    for (let d = 0; d < NDIM; d++) hold.lease.held[d] -= hold.amounts[d];
    hold.lease.inflight--;
    return hold;
  }

  /** Moves a call's hold's expiry later (its call is still running); false when not held. */
  extend(reservationId: string, expiresAt: number): boolean {
    const hold = this.byId.get(reservationId);
    if (!hold) return false;
    if (expiresAt > hold.expiresAt) hold.expiresAt = expiresAt;
    return true;
  }

  /** Forgets the holds in `lease` (leaving the lease as it is): their commits find no hold. */
  forget(lease: Lease): void {
    for (const [id, hold] of this.byId) if (hold.lease === lease) this.byId.delete(id);
  }
}
