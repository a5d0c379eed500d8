import { createHash } from 'node:crypto';

// A ledger is identified by its budget's scope, key and window: budgets that share all three share
// one usage (each checked against its own limit), and budgets that differ in any one never do. Both
// stores key their ledgers by the id below, so they cannot disagree about which ids share a ledger.
//
// Form: `<scope>:<key>`, or `<scope>@<window tag>:<key>` for a windowed budget. The key is kept
// as it is when it is plain (printable ASCII without braces, not starting with '~') and at most
// 128 characters, so the id can sit inside a Redis Cluster hash tag and reads well; any other key
// is written `~` + the SHA-256 of the identity's JSON. JSON.stringify escapes lone surrogates
// (which UTF-8 encoding would turn into U+FFFD, merging distinct ids) and every other character
// unambiguously, so the hash input is injective. The whole form is injective: a scope never holds
// ':' or '@' and a window tag never holds ':', so the first ':' ends them, and what follows is a
// hash exactly when it starts with '~'. An identity whose scope or tag is not plain (only a budget
// built by hand can have one) is `~` + the hash alone; no other id starts with '~'.

/** Longest key, in characters, kept readable in a ledger id; longer keys are hashed. */
export const MAX_READABLE_KEY_LENGTH = 128;

const SCOPE = /^[A-Za-z0-9_.-]{1,64}$/;
// Printable ASCII but { and }, not starting with '~'.
const KEY = new RegExp(String.raw`^[\x21-\x7A|][\x21-\x7A|~]{0,${MAX_READABLE_KEY_LENGTH - 1}}$`);
const TAG = /^[A-Za-z0-9_.+/-]{1,64}$/;

/**
 * The storage id of the ledger of (`scope`, `key`, `windowTag`): `session:abc`,
 * `session@3600000ms:abc`, with the key replaced by `~` + a SHA-256 (43 base64url characters)
 * unless it is short and plain. Distinct identities never share an id.
 */
export function encodeLedgerId(scope: string, key: string, windowTag?: string): string {
  const plain = SCOPE.test(scope) && (windowTag === undefined || TAG.test(windowTag));
  const head = windowTag === undefined ? scope : `${scope}@${windowTag}`;
  if (plain && KEY.test(key)) return `${head}:${key}`;
  const json = JSON.stringify([scope, key, windowTag ?? null]);
  const hash = `~${createHash('sha256').update(json, 'utf8').digest('base64url')}`;
  return plain ? `${head}:${hash}` : hash;
}

/** What identifies a budget's ledger (a `Budget` has all of it). */
interface LedgerIdentity {
  readonly scope: string;
  readonly key: string;
  readonly window?: { readonly tag: string };
}

const ids = new WeakMap<LedgerIdentity, string>();

// Where a budget is defined (defineBudget, and per call for @Budget), its id is stamped on it as
// a hidden property: budgets are often made per request, and a WeakMap entry for every fresh
// budget costs more (GC work on its ephemeron table) than computing the id there once.
const STAMP = Symbol('tokencap.ledgerId');

/**
 * Stamps `budget` (not frozen yet) with the id of its ledger, as a non-enumerable property that
 * copies (`{ ...budget }`, whose key may differ) do not inherit.
 */
export function stampLedgerId<T extends LedgerIdentity>(budget: T): T {
  const id = encodeLedgerId(budget.scope, budget.key, budget.window?.tag);
  Object.defineProperty(budget, STAMP, { value: id });
  return budget;
}

/** The storage id of `budget`'s ledger (see {@link encodeLedgerId}), memoised per budget object. */
export function ledgerIdOf(budget: LedgerIdentity): string {
  if (Object.prototype.hasOwnProperty.call(budget, STAMP)) {
    return (budget as LedgerIdentity & { [STAMP]: string })[STAMP];
  }
  let id = ids.get(budget);
  if (id === undefined) {
    id = encodeLedgerId(budget.scope, budget.key, budget.window?.tag);
    ids.set(budget, id);
  }
  return id;
}
