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
 * `claude-opus-4-0` → `claude-opus-4`), when `inherits` accepts the rest of the name (`x`, `0`).
 * Case-sensitive, as the providers' model ids are.
 */
export function findFact<Entry, Fact>(
  candidates: readonly string[],
  table: ReadonlyMap<string, Entry>,
  fact: (entry: Entry) => Fact | undefined,
  inherits: (rest: string) => boolean = () => true,
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
      if (!inherits(name.slice(known.length + 1))) continue;
      const value = fact(entry);
      if (value === undefined) continue;
      best = known;
      found = value;
    }
    if (found !== undefined) return found;
  }
  return undefined;
}

// Names of distinct models built on a family, billed at their own (dearer, or audio) rates:
// `o3-deep-research`, `gpt-4o-audio-preview`, `gpt-4o-realtime-preview`, `gpt-4o-mini-search-preview`,
// `gpt-4o-mini-tts`, `gpt-4o-transcribe`.
const OWN_PRICE_VARIANT =
  /(?:^|-)(?:deep-research|audio|realtime|search|tts|transcribe|image|computer-use)(?:-|$)/;

/**
 * Whether a model named `family-rest` is priced as `family`: not when `rest` names a distinct,
 * differently billed model (a deep-research, audio, realtime, search, speech or image variant).
 * Such a model has a price only if the catalog lists it by name (or its own family), so a `usd`
 * budget refuses it (`PriceUnknownError`) rather than price it as a cheaper sibling.
 */
export function inheritsPrice(rest: string): boolean {
  return !OWN_PRICE_VARIANT.test(rest);
}
