const DATED_SUFFIX = /-\d{4}-\d{2}-\d{2}$|-\d{4}$/;

/**
 * Finds `model`'s entry in a table keyed by model name: the exact name, then without a date
 * suffix (`gpt-4o-2024-08-06` → `gpt-4o`), then a fine-tune's base (`ft:gpt-4o-mini-2024-07-18:org::id`
 * → `gpt-4o-mini`), then the longest known prefix ending at a `-` (`gpt-4.1-mini-x` → `gpt-4.1-mini`).
 */
export function findModelEntry<T>(model: string, table: ReadonlyMap<string, T>): T | undefined {
  const candidates = [model];
  const fineTune = /^ft:([^:]+):/.exec(model);
  if (fineTune) candidates.push(fineTune[1]);
  for (const name of [...candidates]) {
    if (DATED_SUFFIX.test(name)) candidates.push(name.replace(DATED_SUFFIX, ''));
  }
  for (const name of candidates) {
    const exact = table.get(name);
    if (exact !== undefined) return exact;
  }
  for (const name of candidates) {
    let best: string | undefined;
    for (const known of table.keys()) {
      if (name.startsWith(`${known}-`) && (!best || known.length > best.length)) best = known;
    }
    if (best !== undefined) return table.get(best);
  }
  return undefined;
}
