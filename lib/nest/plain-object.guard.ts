import { TokencapConfigError } from '../errors.js';

/**
 * Refuses an options object whose fields could come from somewhere other than itself: one whose
 * prototype is not `Object.prototype` (or `null`), or that has an own `__proto__` key. Parsed from
 * untrusted JSON, `{"__proto__": {"policy": "notify"}}` becomes such an object once copied key by
 * key (as Nest's module builder does), and every option read from it would come from the attacker.
 * @throws TokencapConfigError naming `what`.
 */
export function assertPlainObject(value: object, what: string): void {
  const prototype = Object.getPrototypeOf(value) as unknown;
  const plain = prototype === Object.prototype || prototype === null;
  if (!plain || Object.prototype.hasOwnProperty.call(value, '__proto__')) {
    throw new TokencapConfigError(
      `${what} must be a plain object, with its options as its own properties: it ` +
        `${plain ? 'has a "__proto__" key' : 'inherits from another object'} (was it parsed from ` +
        `JSON with a "__proto__" key?), so it is refused rather than read through.`,
    );
  }
}
