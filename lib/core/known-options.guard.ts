import { TokencapConfigError } from '../errors.js';

/**
 * Refuses an options object with a key outside `known`: a typo (`{ span: false }`,
 * `{ windw: '1h' }`) would otherwise leave the option it meant at its default, silently. An own
 * `__proto__` key (what JSON.parse makes of one) is unknown too.
 * @throws TokencapConfigError naming the unknown options and listing the known ones.
 */
export function assertKnownOptions(options: object, known: readonly string[], where: string): void {
  let unknown: string[] | undefined;
  for (const k of Object.keys(options)) if (!known.includes(k)) (unknown ??= []).push(k);
  if (unknown !== undefined) {
    throw new TokencapConfigError(
      `Unknown option ${unknown.map((k) => JSON.stringify(k.slice(0, 64))).join(', ')} for ${where}; known options: ${known.join(', ')}.`,
    );
  }
}
