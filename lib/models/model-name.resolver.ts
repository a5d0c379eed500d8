// Snapshot dates: `-2024-08-06` (OpenAI), `-0613` (older OpenAI), `-20250514` (Anthropic),
// `@20250514` (Vertex AI).
const DATED_SUFFIX = /(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-\d{4})$/;
const FINE_TUNE = /^ft:([^:]+)(?::|$)/;

/**
 * The names a model is looked up by, most specific first: the name itself; without a provider
 * prefix (`openai/gpt-4o` → `gpt-4o`); a fine-tune's base (`ft:gpt-4o-mini-2024-07-18:org::id` →
 * `gpt-4o-mini-2024-07-18`); and each of those without its snapshot date (`gpt-4o-2024-08-06` →
 * `gpt-4o`, `claude-sonnet-4-20250514` → `claude-sonnet-4`).
 */
export function nameCandidates(model: string): string[] {
  const names = [model];
  const slash = model.lastIndexOf('/');
  if (slash >= 0 && slash < model.length - 1) names.push(model.slice(slash + 1));
  for (const name of [...names]) {
    const fineTune = FINE_TUNE.exec(name);
    if (fineTune) names.push(fineTune[1]);
  }
  for (const name of [...names]) {
    if (DATED_SUFFIX.test(name)) names.push(name.replace(DATED_SUFFIX, ''));
  }
  return names;
}

/**
 * The one name-matching rule of the model catalog: the first candidate name (see
 * {@link nameCandidates}) with an entry that has the fact asked for, else the longest known name
 * that a candidate starts with followed by `-` (`gpt-4.1-mini-x` → `gpt-4.1-mini`,
 * `claude-opus-4-0` → `claude-opus-4`). Case-sensitive, as the providers' model ids are.
 */
export function findFact<Entry, Fact>(
  candidates: readonly string[],
  table: ReadonlyMap<string, Entry>,
  fact: (entry: Entry) => Fact | undefined,
): Fact | undefined {
  for (const name of candidates) {
    const entry = table.get(name);
    const found = entry === undefined ? undefined : fact(entry);
    if (found !== undefined) return found;
  }
  for (const name of candidates) {
    let best: string | undefined;
    let found: Fact | undefined;
    for (const [known, entry] of table) {
      if (best !== undefined && known.length <= best.length) continue;
      if (!name.startsWith(`${known}-`)) continue;
      const value = fact(entry);
      if (value === undefined) continue;
      best = known;
      found = value;
    }
    if (found !== undefined) return found;
  }
  return undefined;
}
