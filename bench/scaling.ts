import type { SectionResult } from './harness.js';

export async function run(): Promise<SectionResult> {
  return { title: 'scaling', rows: [], notes: ['not written yet'] };
}
