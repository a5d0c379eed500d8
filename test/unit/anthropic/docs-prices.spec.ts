import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ANTHROPIC_MODELS } from '../../../lib/models/anthropic.models.js';

// docs/anthropic.md shows the shipped Claude price table; this keeps it equal to ANTHROPIC_MODELS.
describe('docs/anthropic.md price table', () => {
  const doc = readFileSync('docs/anthropic.md', 'utf8');
  const rows = doc
    .split('\n')
    .filter((line) => /^\| `claude-/.test(line))
    .map((line) =>
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );

  it('lists every shipped model with its rates and output limit, and nothing else', () => {
    const expected: string[][] = [];
    for (const [model, facts] of Object.entries(ANTHROPIC_MODELS.models)) {
      const p = facts.price!;
      const rates = [p.input, p.cacheWrite5m, p.cacheWrite1h, p.cachedInput, p.output].map(String);
      expected.push([`\`${model}\``, ...rates, facts.maxOutputTokens!.toLocaleString('en')]);
      const long = p.longContext;
      if (long) {
        const longRates = [
          long.input,
          long.cacheWrite5m,
          long.cacheWrite1h,
          long.cachedInput,
          long.output,
        ];
        expected.push([
          `\`${model}\`, input > ${long.above.toLocaleString('en')}`,
          ...longRates.map(String),
          '',
        ]);
      }
    }
    expect(rows).toEqual(expected);
  });

  it('names the date and source of the table', () => {
    expect(doc).toContain(`taken on ${ANTHROPIC_MODELS.takenOn}`);
    expect(doc).toContain('https://platform.claude.com/docs/en/about-claude/pricing');
  });
});
