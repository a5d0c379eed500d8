import { describe, expect, it } from 'vitest';
import { RememberedIds } from '../../../lib/core/remembered-ids.js';

describe('RememberedIds', () => {
  it('answers per ledger and id, a later write replacing an earlier one', () => {
    const ids = new RememberedIds();
    ids.remember('a', 'r1', 100);
    ids.remember('b', 'r1', 200);
    expect(ids.until('a', 'r1')).toBe(100);
    expect(ids.until('b', 'r1')).toBe(200);
    expect(ids.until('a', 'r2')).toBeUndefined();
    // Written after a lookup: indexed on the next one, and it replaces the earlier write.
    ids.remember('a', 'r1', 50);
    ids.remember('a', 'r2', 300);
    expect(ids.until('a', 'r1')).toBe(50);
    expect(ids.until('a', 'r2')).toBe(300);
  });

  it('forgets what expired, by the latest write of each id, and keeps the rest', () => {
    const ids = new RememberedIds();
    ids.remember('a', 'r1', 500);
    ids.remember('a', 'r1', 100); // replaces 500: expires at 100
    ids.remember('a', 'r2', 300);
    ids.remember('b', 'r3', 100);
    ids.forgetExpired(100);
    expect(ids.until('a', 'r1')).toBeUndefined();
    expect(ids.until('a', 'r2')).toBe(300);
    expect(ids.until('b', 'r3')).toBeUndefined();
    ids.remember('b', 'r3', 400);
    ids.forgetExpired(300);
    expect(ids.until('a', 'r2')).toBeUndefined();
    expect(ids.until('b', 'r3')).toBe(400);
  });
});
