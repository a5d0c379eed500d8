export interface TranspileOptions {
  /** The folder `dirs` and output paths are relative to. */
  base: string;
  dirs: string[];
  outDir: string;
  /** Skip sources whose output is newer. */
  onlyChanged?: boolean;
}
export function transpile(options: TranspileOptions): Promise<number>;
