// Punctuation a serialisation adds around each value, beyond the tokens of its text: the quotes,
// colon and separator of an object member, the separator of an array element, the brackets of a
// container. Neither the JSON nor the TypeScript-like rendering a provider gives the model is
// published; these are set so that the walk counts at least as many tokens as the compact JSON of
// the schemas in test/unit/counting/schema-corpus.fixture.ts, the higher of the two renderings.
const MEMBER_TOKENS = 2;
const ELEMENT_TOKENS = 1;
const CONTAINER_TOKENS = 1;
// `null`, `true`, `false`: one token each in both encodings.
const LITERAL_TOKENS = 1;

/** A container being walked: its running total and what is left to visit. */
interface Frame {
  readonly node: object;
  readonly keys: readonly string[] | undefined;
  readonly length: number;
  next: number;
  total: number;
}

/**
 * Tokens of every string `value` carries, keys included, at any depth: each string, object key
 * and number by `text`, plus the punctuation of its serialisation (see the constants above).
 * Values `JSON.stringify` leaves out (`undefined`, functions, symbols) count 0, members holding
 * them included.
 *
 * Bounded on hostile input: the walk is iterative (a 50,000-deep schema cannot overflow the
 * stack), and an object reached twice (a shared sub-schema) is counted from a memo, so a schema
 * that shares one object at every level is linear to walk even though its JSON is exponential.
 * A cycle cannot be serialised (the SDK throws before sending), so the edge closing it counts 0.
 * The result is capped at `Number.MAX_SAFE_INTEGER`. Never throws on plain data.
 */
export function countJsonText(value: unknown, text: (text: string) => number): number {
  if (typeof value !== 'object' || value === null) return countScalar(value, text);
  const counted = new Map<object, number>();
  const open = new Set<object>();
  const frames: Frame[] = [frameOf(value, open)];
  let result = 0;
  while (frames.length > 0) {
    const frame = frames[frames.length - 1];
    if (frame.next < frame.length) {
      const index = frame.next++;
      const key = frame.keys?.[index];
      const child =
        key === undefined
          ? (frame.node as readonly unknown[])[index]
          : (frame.node as Readonly<Record<string, unknown>>)[key];
      if (!serialisable(child)) {
        // JSON.stringify writes `null` for such an array element and drops such a member.
        if (key === undefined) frame.total += ELEMENT_TOKENS + LITERAL_TOKENS;
        continue;
      }
      frame.total += key === undefined ? ELEMENT_TOKENS : text(key) + MEMBER_TOKENS;
      if (typeof child !== 'object' || child === null) {
        frame.total += countScalar(child, text);
      } else if (counted.has(child)) {
        frame.total += counted.get(child) as number;
      } else if (!open.has(child)) {
        frames.push(frameOf(child, open));
      }
      continue;
    }
    frames.pop();
    open.delete(frame.node);
    const total = Math.min(frame.total, Number.MAX_SAFE_INTEGER);
    counted.set(frame.node, total);
    if (frames.length > 0) frames[frames.length - 1].total += total;
    else result = total;
  }
  return result;
}

function frameOf(node: object, open: Set<object>): Frame {
  open.add(node);
  const keys = Array.isArray(node) ? undefined : Object.keys(node);
  const length = keys === undefined ? (node as unknown[]).length : keys.length;
  return { node, keys, length, next: 0, total: CONTAINER_TOKENS };
}

function serialisable(value: unknown): boolean {
  return value !== undefined && typeof value !== 'function' && typeof value !== 'symbol';
}

function countScalar(value: unknown, text: (text: string) => number): number {
  switch (typeof value) {
    case 'string':
      return text(value);
    case 'number':
      return Number.isFinite(value) ? text(String(value)) : LITERAL_TOKENS;
    case 'bigint':
      return text(String(value));
    case 'boolean':
      return LITERAL_TOKENS;
    default:
      return value === null ? LITERAL_TOKENS : 0;
  }
}
