/** The value a metric label takes for a name outside its bounded set. */
export const OTHER_LABEL = 'other';

/**
 * Keeps one metric label to a bounded set of values: a name `known` maps to itself (or to the
 * name it stands for), anything else to {@link OTHER_LABEL}; and whatever `known` says, no more
 * than `max` distinct values are ever reported (later newcomers become `other`), so a name built
 * from user input cannot grow a time series per value.
 */
export class LabelBounder {
  private readonly seen = new Set<string>();

  constructor(
    private readonly known: (name: string) => string | undefined,
    private readonly max: number,
    private readonly onOverflow: (name: string) => void,
  ) {}

  label(name: string): string {
    const value = this.known(name);
    if (value === undefined) return OTHER_LABEL;
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) {
      this.onOverflow(value);
      return OTHER_LABEL;
    }
    this.seen.add(value);
    return value;
  }
}
