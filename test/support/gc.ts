import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// Collections on demand, to test what happens to what a caller drops (streams, promises, holds).
setFlagsFromString('--expose-gc');

/** One full garbage collection. */
export const gc = runInNewContext('gc') as () => void;

/** A few collections with timer turns between, so finalizers (FinalizationRegistry) run too. */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
