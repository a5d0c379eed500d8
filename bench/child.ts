// Runs one section in a fresh process (so tokenizer tables, heap growth and JIT state of one
// section never skew another) and sends its result to the runner over IPC.
import type { SectionResult } from './harness.js';

const sections: Record<string, () => Promise<{ run: () => Promise<SectionResult> }>> = {
  engine: () => import('./engine.js'),
  counting: () => import('./counting.js'),
  memory: () => import('./memory.js'),
  latency: () => import('./latency.js'),
  scaling: () => import('./scaling.js'),
  'scale-out': () => import('./scale-out.js'),
  otel: () => import('./otel.js'),
  headers: () => import('./http-headers.js'),
};

const name = process.argv[2] ?? '';
const load = sections[name];
if (!load) {
  console.error(
    `bench/child: unknown section ${JSON.stringify(name)}; expected one of ${Object.keys(sections).join(', ')}`,
  );
  process.exit(2);
}

let result: SectionResult | undefined;
try {
  result = await (await load()).run();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
// Sections close what they open; exiting explicitly also covers a handle one forgot.
if (result && process.send) process.send(result, () => process.exit());
else {
  if (result) console.log(JSON.stringify(result, null, 2));
  process.exit();
}
