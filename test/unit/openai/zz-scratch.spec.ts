import { describe, expect, it } from 'vitest';
import { budget, MESSAGES, MODEL, useHarness } from './openai.fixture.js';

const WRAP = process.env.WRAP === '1';
describe('scratch', () => {
  const h = useHarness();
  const mk = () => (WRAP ? h.client() : h.raw());
  const run = <T,>(fn: () => T) => (WRAP ? h.within(budget(10_000), fn) : fn());
  it('abort', async () => {
    const client = mk();
    h.server.fail({ kind: 'delay', ms: 1_000 });
    const controller = new AbortController();
    const p = run(() => client.chat.completions.create({ model: MODEL, messages: MESSAGES }, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    await expect(p).rejects.toThrow();
  });
  it('next', async () => {
    const client = mk();
    h.server.fail({ kind: 'omit-usage' });
    await run(() => client.chat.completions.create({ model: MODEL, messages: MESSAGES }));
    expect(h.server.requests).toHaveLength(1);
  });
});
