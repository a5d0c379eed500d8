/** Depth past which nested schemas are answered with `{}` (guards against recursive schemas). */
const MAX_DEPTH = 6;

/**
 * A deterministic tool input that satisfies the common parts of a JSON schema: an object gets its
 * `required` properties (all of them when none is required), an `enum` its first value, a `const`
 * its value, strings a short sample (or the property's `default` / first `examples` entry),
 * numbers their `minimum` (else 42), booleans `true`, arrays one item.
 */
export function generateToolInput(schema: unknown): Record<string, unknown> {
  const value = sample(schema, 'value', 0);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function sample(schema: unknown, name: string, depth: number): unknown {
  if (typeof schema !== 'object' || schema === null || depth > MAX_DEPTH) return `sample ${name}`;
  const s = schema as Record<string, unknown>;
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if ('default' in s) return s.default;
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0];
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = s[key];
    if (Array.isArray(options) && options.length > 0) return sample(options[0], name, depth + 1);
  }
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      const properties = (s.properties ?? {}) as Record<string, unknown>;
      const required = Array.isArray(s.required)
        ? s.required.filter((k): k is string => typeof k === 'string')
        : [];
      const keys = required.length > 0 ? required : Object.keys(properties);
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        // defineProperty, so a property named "__proto__" stays a property.
        Object.defineProperty(out, key, {
          value: sample(
            Object.hasOwn(properties, key) ? properties[key] : undefined,
            key,
            depth + 1,
          ),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    case 'array':
      return [sample(s.items, name, depth + 1)];
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? s.minimum : 42;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return `sample ${name}`;
  }
}
