import { it } from 'vitest';
import { budget, MESSAGES, MODEL, useHarness, drain } from '../unit/openai/openai.fixture.js';

const h = useHarness({ replyTokens: 20, chunkDelayMs: 2 });
async function probe(name: string, policy: 'hard-stop' | 'notify', body: Record<string, unknown>, opts?: Record<string, unknown>, abortAfter?: number) {
  const b = budget(10_000, { policy });
  const client = h.client();
  let outcome: string;
  let reservedDuring = -1;
  const c = new AbortController();
  if (abortAfter !== undefined) setTimeout(() => c.abort(), abortAfter);
  try {
    const p = h.within(b, async () => {
      const r = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, ...body } as never, { ...opts, signal: c.signal });
      if (body.stream) return `chunks=${(await drain(r as never)).length}`;
      return `ok ${JSON.stringify((r as any).usage)?.slice(0, 60)}`;
    });
    await new Promise((r) => setTimeout(r, 0));
    reservedDuring = (await h.tokens(b)).reserved;
    outcome = await p;
  } catch (e) {
    outcome = `ERR ${(e as Error).constructor.name} ${(e as Error).message.slice(0, 80)}`;
  }
  await h.server.settled();
  console.log(`${name} ${policy} | ${outcome} | reservedDuring ${reservedDuring} | after ${JSON.stringify(await h.tokens(b))} | tally ${h.server.tally.totalTokens} reqs ${h.server.requests.length}`);
}
it('n', async () => {
  for (const policy of ['hard-stop', 'notify'] as const) {
    await probe('n=1e6', policy, { n: 1e6 });
    await probe('n=MAX', policy, { n: Number.MAX_SAFE_INTEGER });
    await probe('n=-1', policy, { n: -1 });
    await probe('content-obj', policy, { messages: [{ role: 'user', content: { text: 'x '.repeat(500) } }] });
    await probe('content-num', policy, { messages: [{ role: 'user', content: 42 }] });
    await probe('content-null', policy, { messages: [{ role: 'user', content: null }] });
    await probe('content-parts-nested', policy, { messages: [{ role: 'user', content: [{ type: 'text', text: { a: 'x '.repeat(300) } }] }] });
    await probe('content-bigint', policy, { messages: [{ role: 'user', content: 10n }] });
    await probe('stream-abort-signal', policy, { stream: true }, {}, 15);
    await probe('plain-abort-signal-delay', policy, {}, {}, 15);
    h.server.reset();
  }
});
