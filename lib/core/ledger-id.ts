import { createHash } from 'node:crypto';
import type { Budget } from './budget.js';

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

const ids = new WeakMap<Budget, string>();

/** The storage id of `budget`'s ledger (see {@link encodeLedgerId}), memoised per budget object. */
export function ledgerIdOf(budget: Budget): string {
  let id = ids.get(budget);
  if (id === undefined) {
    id = encodeLedgerId(budget.scope, budget.key, budget.window?.tag);
    ids.set(budget, id);
  }
  return id;
}
