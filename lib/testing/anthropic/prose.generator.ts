import { countClaudeTokens, type ClaudeTokenizer } from './claude-token.counter.js';

/** Which kind of text to write: the visible answer or the model's thinking. */
export type ProseVoice = 'reply' | 'thinking';

const REPLY = `Here is a short overview of the options, with the trade-offs that usually matter most.
The first approach keeps everything in a single process, which is simple to deploy and easy to debug.
Its weakness shows up under load: one slow request can hold back every request queued behind it.
A second approach splits the work into small services that talk over a message queue.
That buys isolation and independent scaling, at the price of more moving parts to monitor.
In practice, most teams start with the simple design and extract a service only when a bottleneck appears.
Measure before you decide; a profiler or a week of production metrics settles most arguments quickly.
If latency is the main concern, cache the expensive lookups close to the code that needs them.
Remember that every cache needs an expiry policy, or stale data will eventually surprise someone.
For correctness, write the invariants down as tests before changing the implementation.
Property-based tests are especially good at finding the edge cases nobody thought to list.
When the change touches money or quotas, log each decision with enough context to replay it later.
Rolling out behind a feature flag lets you compare the old and new paths on real traffic.
Keep the flag short-lived, though, because two code paths double the maintenance burden.
On the human side, a brief design note shared early saves a surprising amount of rework.
Reviewers can then focus on the risky parts instead of rediscovering the overall plan.
Documentation should explain why the system behaves as it does, not just what each function returns.
Examples that compile and run are worth more than paragraphs of prose about an interface.
Finally, plan for failure: timeouts, retries with backoff, and a clear answer when a dependency is down.
A system that fails loudly and predictably is far easier to operate than one that degrades silently.
Those principles apply whatever the language or framework, and they tend to age well.
Let me know which constraints matter most to you, and I can go deeper on that part.
I can also sketch a concrete migration plan with milestones and rough estimates.
Either way, starting small and iterating with feedback is almost always the safer route.`;

const THINKING = `Let me work through what is being asked before answering.
The user wants a practical recommendation rather than a survey of every possible option.
I should consider the constraints they mentioned and any that are implied by the context.
Performance, cost and maintainability pull in different directions here.
A simple design is probably right unless there is evidence of a real bottleneck.
I need to check whether the numbers in the question support that conclusion.
They do, roughly, so the answer can lead with the simple option and explain when to move on.
I will mention the main risk and one way to test the assumption early.
The answer should stay concise and end with an offer to go deeper.`;

/** Single-token words under every tokenizer of the fake, used to land exactly on a length. */
const FILLERS = [' so', ' it', ' is', ' and', ' the', ' a'];

/**
 * Deterministic prose of exactly `tokens` tokens under `tokenizer`: sentences from a fixed text,
 * starting at a sentence chosen by `seed` and wrapping around, cut at a word. When the next word
 * would overshoot, short one-token words fill the gap, so the count is always exact.
 */
export function generateProse(
  tokens: number,
  seed: number,
  tokenizer: ClaudeTokenizer,
  voice: ProseVoice = 'reply',
): string {
  if (tokens <= 0) return '';
  const sentences = (voice === 'reply' ? REPLY : THINKING).split('\n');
  const words = rotate(sentences, seed % sentences.length)
    .join(' ')
    .split(' ');
  let text = '';
  let used = 0;
  let i = 0;
  while (used < tokens) {
    const word = words[i % words.length]!;
    i += 1;
    const piece = text === '' ? word : ` ${word}`;
    const cost = countClaudeTokens(piece, tokenizer);
    if (used + cost <= tokens) {
      text += piece;
      used += cost;
      continue;
    }
    // Too long for what is left: finish with one-token words (" so", " it", ...).
    while (used < tokens) {
      const filler = FILLERS[(i + used) % FILLERS.length]!;
      text += text === '' ? filler.trimStart() : filler;
      used += 1;
    }
  }
  return text;
}

function rotate<T>(items: readonly T[], start: number): T[] {
  return [...items.slice(start), ...items.slice(0, start)];
}

/** 32-bit FNV-1a hash, the seed of a request's reply. */
export function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
