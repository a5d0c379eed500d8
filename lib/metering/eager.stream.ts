/** One thing the reader will be handed, in the order it happened. */
type Slot<Item> = { item: Item } | { error: unknown } | { end: true };

/**
 * A stream of `items` that reads them as they come, not as its reader pulls: the parts wait in
 * memory until read. The AI SDK stops pulling a model's stream without cancelling it when its
 * caller leaves (a `break` out of `textStream`, a Nest `@Sse()` client gone, a `streamText` result
 * never read), while the provider keeps generating and billing; read this way, the metered source
 * still sees every part, its usage included, and settles when the provider's stream ends. An
 * error reaches the reader after the parts that came before it. Cancelling calls `cancel`, which
 * should end `items` (its settlement then charges what came; else the reading stops at the next
 * item), and resolves once `items` ended.
 */
export function eagerStream<Item>(
  items: AsyncIterable<Item>,
  cancel: () => Promise<void>,
): ReadableStream<Item> {
  const queue: Slot<Item>[] = [];
  let wake: (() => void) | undefined;
  let cancelled = false;
  const push = (slot: Slot<Item>) => {
    if (cancelled) return;
    queue.push(slot);
    wake?.();
    wake = undefined;
  };
  const drained = (async () => {
    try {
      for await (const item of items) {
        // `cancel` could not end the items (a request it cannot abort): stop reading them.
        if (cancelled) break;
        push({ item });
      }
      push({ end: true });
    } catch (error) {
      push({ error });
    }
  })();

  return new ReadableStream<Item>({
    async pull(controller) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const slot = queue.shift()!;
      if ('item' in slot) controller.enqueue(slot.item);
      else if ('error' in slot) controller.error(slot.error);
      else controller.close();
    },
    async cancel() {
      cancelled = true;
      queue.length = 0;
      await cancel();
      await drained;
    },
  });
}
