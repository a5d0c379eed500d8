import type { SectionResult } from './harness.js';

export async function run(): Promise<SectionResult> {
  return { title: 'latency', rows: [], notes: ['not written yet'] };
}
