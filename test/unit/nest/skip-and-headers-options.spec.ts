import { describe, expect, it } from 'vitest';
import { SkipBudget } from '../../../lib/nest/skip-budget.decorator.js';
import { resolveTokencapOptions } from '../../../lib/nest/tokencap-options.validator.js';

describe('headers and skipIf options', () => {
  it('default to headers on and nothing skipped', () => {
    const options = resolveTokencapOptions({});
    expect(options.headers).toBe(true);
    expect(options.skipIf).toBeUndefined();
  });

  it('refuse values of the wrong type, naming the option and the value', () => {
    expect(() => resolveTokencapOptions({ headers: 'no' as never })).toThrow(
      'Invalid TokencapModule option "headers": "no". Expected true or false.',
    );
    expect(() => resolveTokencapOptions({ skipIf: true as never })).toThrow(
      'Invalid TokencapModule option "skipIf": expected a function (context) => boolean, got boolean.',
    );
    expect(() => resolveTokencapOptions({ skipIf: null as never })).toThrow(
      'Invalid TokencapModule option "skipIf": expected a function (context) => boolean, got null.',
    );
  });

  it('@SkipBudget takes a boolean or nothing', () => {
    expect(() => SkipBudget('yes' as never)).toThrow(
      'Invalid argument "yes" of @SkipBudget(): expected true, false or nothing.',
    );
  });
});
