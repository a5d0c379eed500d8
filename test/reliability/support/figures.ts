/** One row of figures a reliability test observed, as printed for docs/reliability.md. */
export type Figures = Record<string, string | number>;

/**
 * Prints `rows` as a Markdown table when `TOKENCAP_RELIABILITY_REPORT=1` (the figures in
 * docs/reliability.md come from these runs); silent otherwise, so `npm test` stays quiet.
 */
export function printFigures(title: string, rows: readonly Figures[]): void {
  if (process.env.TOKENCAP_RELIABILITY_REPORT !== '1' || rows.length === 0) return;
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const line = (cells: readonly unknown[]) => `| ${cells.map(String).join(' | ')} |`;
  const table = [
    line(columns),
    line(columns.map(() => '---')),
    ...rows.map((r) => line(columns.map((c) => r[c] ?? ''))),
  ];
  console.log(`\n### ${title}\n\n${table.join('\n')}\n`);
}
