/**
 * What `{ ...source }` makes (own enumerable properties, in order, on a plain object), ready to
 * have properties added. Not `{ ...source }` itself: under V8 11 (Node 20), a property added to a
 * copy made by a literal that starts with a spread (`{ ...source, key }`, or assigned later)
 * costs about 1 µs, a new hidden class every time; a literal that starts with anything else
 * copies on the fast path. Hot paths copy request bodies and options this way.
 */
export function shallowCopy<T extends object>(source: T | undefined): T {
  return { __proto__: Object.prototype, ...source } as unknown as T;
}
