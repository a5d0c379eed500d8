import type { RequestBody } from './provider-endpoint.interface.js';

/**
 * The body as the SDK will send it: `JSON.stringify` semantics, so a value with `toJSON` (a `Date`,
 * a class of the caller's) is counted as what it serializes to, not as its own properties, and
 * `undefined`, functions and symbols count as nothing, as they are not sent. A body that does not
 * serialize (a cycle, a `BigInt`) cannot be sent either: counted as given, and the SDK reports it.
 */
export function serializedBody(body: RequestBody): RequestBody {
  if (!needsSerializing(body)) return body;
  try {
    return JSON.parse(JSON.stringify(body)) as RequestBody;
  } catch {
    return body;
  }
}

// Objects walked before the walk starts remembering them: a request of a few messages, walked on
// every call, needs no set of them; past this, each object is visited once more at most.
const UNTRACKED_VISITS = 64;

/**
 * Whether anything in `body` serializes differently from what a plain walk of it reads: a
 * `toJSON` method, or an object that is not a plain object or an array. Iterative, so a deeply
 * nested body cannot overflow the stack, and it ends on a cycle (see UNTRACKED_VISITS).
 */
function needsSerializing(body: RequestBody): boolean {
  const stack: unknown[] = [body];
  let seen: Set<object> | undefined;
  let visits = 0;
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (++visits > UNTRACKED_VISITS) {
      seen ??= new Set();
      if (seen.has(value)) continue;
      seen.add(value);
    }
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return true;
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return true;
    for (const key in value) {
      if (Object.prototype.hasOwnProperty.call(value, key)) {
        stack.push((value as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}
