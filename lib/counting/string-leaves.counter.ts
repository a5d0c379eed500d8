// Guards against cyclic or absurdly deep objects; real request items nest a few levels at most.
const MAX_DEPTH = 8;

/**
 * Sums the token counts of every string found in `value` (object values and array elements,
 * recursively). This is the OpenAI cookbook's "encode every value of the message" rule,
 * generalised to the nested items it does not cover (built-in tool calls, unknown tool
 * definitions), so that new API shapes are over- rather than under-counted.
 */
export function countStringLeaves(value: unknown, count: (text: string) => number): number {
  return walk(value, count, 0);
}

function walk(value: unknown, count: (text: string) => number, depth: number): number {
  if (typeof value === 'string') return count(value);
  if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) return 0;
  let total = 0;
  const children: Iterable<unknown> = Array.isArray(value) ? value : Object.values(value);
  for (const child of children) total += walk(child, count, depth + 1);
  return total;
}
