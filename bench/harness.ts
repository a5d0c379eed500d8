// Measurement helpers shared by every section. The machine this runs on is assumed to be shared
// and noisy, so nothing here reports a bare absolute time as a result: every figure is a
// difference or a ratio against a baseline measured in the same process, in interleaved rounds
// (A B, B A, A B, …) after a warm-up, summarised by medians with a spread.

/** `BENCH_QUICK=1` shrinks every size so the whole run takes well under a minute (a smoke test). */
export const QUICK = process.env.BENCH_QUICK === '1';

/** `full` normally, `quick` under `BENCH_QUICK=1`. */
export function size(full: number, quick: number): number {
  return QUICK ? quick : full;
}

/** One line of the results table. */
export interface Row {
  case: string;
  metric: string;
  result: string;
  target?: string;
  /** Whether the target is met; absent when the row has no target. */
  met?: boolean;
  /**
   * A short figure for the side-by-side table of Node versions (`npm run bench` runs every
   * section on each tested version); rows without one stay out of that table.
   */
  headline?: string;
}

/** What one section reports back to the runner. */
export interface SectionResult {
  title: string;
  rows: Row[];
  notes: string[];
}

/** Nearest-rank quantile of an ascending array. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Quantile of an unsorted array (copied, not mutated). */
export function quantile(values: readonly number[], q: number): number {
  return quantileSorted(
    [...values].sort((x, y) => x - y),
    q,
  );
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** A function measured call by call; may be sync or async. */
export type Call = () => unknown;

export interface AbOptions {
  /** Interleaved rounds; each runs `batch` calls of A and `batch` of B. */
  rounds: number;
  batch: number;
  /** Calls of each side run (and discarded) before measuring. */
  warmup: number;
}

/** Per-call samples (µs) of a baseline A and a variant B, measured in interleaved rounds. */
export interface AbResult {
  a: number[];
  b: number[];
  /** Per round: median(B) − median(A), µs. */
  roundDelta: number[];
  /** Per round: time of A's batch / time of B's batch (B's throughput relative to A's). */
  roundRatio: number[];
  /** Per round: CPU µs per call of B − that of A. */
  cpuDelta: number[];
}

/** Times one call of `fn` in µs (awaiting it only if it returns a promise). */
function timed(fn: Call): number | Promise<number> {
  const start = performance.now();
  const value = fn();
  if (value instanceof Promise) return value.then(() => (performance.now() - start) * 1000);
  return (performance.now() - start) * 1000;
}

/** A sample that measures itself: resolves with the µs of the part that counts. */
export type Sample = () => number | Promise<number>;

async function batchOf(sample: Sample, n: number, out: number[] | undefined): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await sample());
  out?.push(...samples);
  return samples;
}

const sum = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0);

/** Measures `a` (baseline) and `b` call by call in alternating order, after a warm-up of both. */
export function abTest(a: Call, b: Call, options: AbOptions): Promise<AbResult> {
  return abSamples(
    () => timed(a),
    () => timed(b),
    options,
  );
}

/** Like {@link abTest} for samples that time themselves (e.g. only the last turn of a loop). */
export async function abSamples(a: Sample, b: Sample, options: AbOptions): Promise<AbResult> {
  const r = await compareSamples({ a, b }, options);
  return { a: r.samples.a, b: r.samples.b, ...pairRounds(r, 'a', 'b') };
}

/** Per-variant samples, and each round's samples per variant. */
export interface Comparison<K extends string> {
  samples: Record<K, number[]>;
  rounds: Record<K, number[]>[];
  /**
   * Per round, CPU time (user + system, µs) per sample of each variant. On a shared machine this
   * is steadier than wall time, which also counts time the process was runnable but not running.
   */
  cpu: Record<K, number>[];
}

/**
 * Measures several variants in interleaved rounds (the order rotates every round): after a
 * warm-up of each, every round runs `batch` samples of each variant.
 */
export async function compareSamples<K extends string>(
  variants: Record<K, Sample>,
  options: AbOptions,
): Promise<Comparison<K>> {
  const names = Object.keys(variants) as K[];
  const empty = () =>
    Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (const name of names) await batchOf(variants[name], options.warmup, undefined);
  const result: Comparison<K> = { samples: empty(), rounds: [], cpu: [] };
  for (let round = 0; round < options.rounds; round++) {
    const perRound = empty();
    const cpu = {} as Record<K, number>;
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      const before = process.cpuUsage();
      perRound[name] = await batchOf(variants[name], options.batch, result.samples[name]);
      const used = process.cpuUsage(before);
      cpu[name] = (used.user + used.system) / options.batch;
    }
    result.rounds.push(perRound);
    result.cpu.push(cpu);
  }
  return result;
}

/** Per-round median differences and throughput ratios of `b` against `a`. */
export function pairRounds<K extends string>(
  r: Comparison<K>,
  a: K,
  b: K,
): { roundDelta: number[]; roundRatio: number[]; cpuDelta: number[] } {
  return {
    roundDelta: r.rounds.map((round) => median(round[b]) - median(round[a])),
    roundRatio: r.rounds.map((round) => sum(round[a]) / sum(round[b])),
    cpuDelta: r.cpu.map((round) => round[b] - round[a]),
  };
}

/** The figures reported for an A/B pair. */
export interface AbSummary {
  baseMedian: number;
  addedMedian: number;
  addedP99: number;
  /** Spread of the per-round median differences (10th and 90th percentiles). */
  deltaP10: number;
  deltaP90: number;
  /** B's throughput / A's throughput (median over rounds). */
  ratio: number;
  /** Added CPU µs per call (median over rounds). */
  cpuAdded: number;
}

export function summarizeAb(r: AbResult): AbSummary {
  return {
    baseMedian: median(r.a),
    addedMedian: median(r.b) - median(r.a),
    addedP99: quantile(r.b, 0.99) - quantile(r.a, 0.99),
    deltaP10: quantile(r.roundDelta, 0.1),
    deltaP90: quantile(r.roundDelta, 0.9),
    ratio: median(r.roundRatio),
    cpuAdded: median(r.cpuDelta),
  };
}

/**
 * Runs several variants in interleaved rounds (the order rotates every round); each call of a
 * variant runs one batch and returns the figure of that batch. Returns the figures per variant.
 */
export async function interleave<K extends string>(
  variants: Record<K, () => number | Promise<number>>,
  rounds: number,
  warmupRounds = 1,
): Promise<Record<K, number[]>> {
  const names = Object.keys(variants) as K[];
  const out = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let round = -warmupRounds; round < rounds; round++) {
    const shift = ((round % names.length) + names.length) % names.length;
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + shift) % names.length];
      const value = await variants[name]();
      if (round >= 0) out[name].push(value);
    }
  }
  return out;
}

// ---- formatting -------------------------------------------------------------------------------

export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return String(us);
  const abs = Math.abs(us);
  if (abs >= 10_000) return `${(us / 1000).toFixed(1)} ms`;
  if (abs >= 100) return `${us.toFixed(0)} µs`;
  return `${us.toFixed(1)} µs`;
}

export function fmtRatio(x: number): string {
  return `${x.toFixed(3)}×`;
}

export function fmtCount(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(0);
}

export function fmtBytes(x: number): string {
  if (Math.abs(x) >= 1 << 20) return `${(x / (1 << 20)).toFixed(1)} MiB`;
  return `${x.toFixed(0)} B`;
}

/** "median 12.3 µs (p10–p90 of rounds 11.0–14.1 µs)". */
export function fmtSpread(medianValue: number, p10: number, p90: number, fmt = fmtUs): string {
  return `${fmt(medianValue)} (rounds p10–p90: ${fmt(p10)} … ${fmt(p90)})`;
}

/** Forces a full GC when the process runs with `--expose-gc`. */
export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
