/** One streamed delta: its text and the output tokens it carries. */
export interface Delta {
  text: string;
  tokens: number;
}

/**
 * Cuts `text` into deltas of at least `tokensPerDelta` tokens, at whitespace before a word, so each
 * delta's own count adds up exactly to the count of the whole. `totalTokens` (when the block bills
 * more than its visible text, e.g. a stop sequence) puts the difference on the last delta.
 */
export function splitText(
  text: string,
  tokensPerDelta: number,
  count: (text: string) => number,
  totalTokens = count(text),
): Delta[] {
  const deltas: Delta[] = [];
  let current = '';
  let currentTokens = 0;
  for (const piece of text.match(/\s*\S+|\s+$/g) ?? []) {
    current += piece;
    currentTokens += count(piece);
    if (currentTokens >= tokensPerDelta) {
      deltas.push({ text: current, tokens: currentTokens });
      current = '';
      currentTokens = 0;
    }
  }
  if (current !== '') deltas.push({ text: current, tokens: currentTokens });
  settleRemainder(deltas, totalTokens);
  return deltas;
}

/**
 * Cuts a tool call's JSON into `partial_json` pieces of about four characters per token, spreading
 * the call's `totalTokens` over them in proportion to their length (the counts add up exactly).
 */
export function splitJson(json: string, tokensPerDelta: number, totalTokens: number): Delta[] {
  const size = Math.max(1, tokensPerDelta * 4);
  const deltas: Delta[] = [];
  let billed = 0;
  for (let start = 0; start < json.length; start += size) {
    const end = Math.min(json.length, start + size);
    const upTo = Math.floor((totalTokens * end) / json.length);
    deltas.push({ text: json.slice(start, end), tokens: upTo - billed });
    billed = upTo;
  }
  settleRemainder(deltas, totalTokens);
  return deltas;
}

function settleRemainder(deltas: Delta[], totalTokens: number): void {
  const sum = deltas.reduce((s, d) => s + d.tokens, 0);
  if (sum === totalTokens) return;
  if (deltas.length === 0) deltas.push({ text: '', tokens: 0 });
  deltas.at(-1)!.tokens += totalTokens - sum;
}
