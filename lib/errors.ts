import type { Dimension } from './core/budget.js';

/** Base class of every error Tokencap throws, so callers can catch them all at once. */
export class TokencapError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An option, decorator argument or budget definition is invalid. Thrown at definition or bootstrap time. */
export class TokencapConfigError extends TokencapError {}

/** The details a refusal carries; every amount is in the unit of `dimension` (USD for `usd`). */
export interface BudgetExceededDetails {
  scope: string;
  key: string;
  dimension: Dimension;
  limit: number;
  /** Committed usage in the current window when the call was refused. */
  used: number;
  /** Usage reserved by calls still in flight when the call was refused. */
  reserved: number;
  /** What the refused call asked for. */
  requested: number;
  policy: 'hard-stop' | 'degrade' | 'notify';
}

/**
 * A call was refused because a budget cannot hold it. Thrown before the provider is called
 * (or mid-stream, when a stream would cross the limit). Mapped to HTTP 429 by the Nest module.
 */
export class BudgetExceededError extends TokencapError implements BudgetExceededDetails {
  readonly scope: string;
  readonly key: string;
  readonly dimension: Dimension;
  readonly limit: number;
  readonly used: number;
  readonly reserved: number;
  readonly requested: number;
  readonly policy: 'hard-stop' | 'degrade' | 'notify';
  /**
   * When the refusing budget's window ends (epoch ms): the earliest moment a retry can succeed.
   * Absent for a budget without a window, which never starts afresh.
   */
  readonly resetsAt?: number;

  constructor(
    details: BudgetExceededDetails & { resetsAt?: number },
    options?: { cause?: unknown },
  ) {
    super(describeRefusal(details), options);
    this.resetsAt = details.resetsAt;
    this.scope = details.scope;
    this.key = details.key;
    this.dimension = details.dimension;
    this.limit = details.limit;
    this.used = details.used;
    this.reserved = details.reserved;
    this.requested = details.requested;
    this.policy = details.policy;
  }
}

function describeRefusal(d: BudgetExceededDetails): string {
  const unit = d.dimension === 'usd' ? 'USD' : d.dimension;
  const fmt = (n: number) =>
    d.dimension === 'usd' ? n.toFixed(6).replace(/\.?0+$/, '') : String(n);
  const remaining = Math.max(0, d.limit - d.used - d.reserved);
  return (
    `Budget "${d.scope}" (key ${quoteClientValue(d.key)}) exceeded: the call needs ${fmt(d.requested)} ${unit} but only ` +
    `${fmt(remaining)} of ${fmt(d.limit)} ${unit} remain (${fmt(d.used)} used, ${fmt(d.reserved)} reserved ` +
    `by calls in flight; policy ${d.policy}).`
  );
}

/** The most characters of a client-controlled string an error message shows. */
export const MAX_QUOTED_CHARS = 64;

/**
 * A client-controlled string (a budget key, a model name from a request) as error messages show
 * it: quoted as JSON, so a newline or a quote cannot forge a log line, and cut to
 * {@link MAX_QUOTED_CHARS} characters (then ending in `…`), so an 8 KB id does not make an 8 KB
 * message. Non-strings are described by their JSON (or `String()`) form, cut the same way.
 */
export function quoteClientValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  // Cut on a code point boundary: half a surrogate pair would show as U+FFFD in a log.
  let end = 0;
  let count = 0;
  for (const char of text) {
    if (count === MAX_QUOTED_CHARS) return JSON.stringify(`${text.slice(0, end)}…`);
    end += char.length;
    count += 1;
  }
  return JSON.stringify(text);
}

/**
 * Why a request has no usable budget key: its scope resolver returned nothing (`missing`), returned
 * something that is not a string or a number (`invalid`), or threw (`failed`; the resolver's error
 * is the `cause`).
 */
export type BudgetKeyProblem = 'missing' | 'invalid' | 'failed';

const KEY_PROBLEMS: Record<BudgetKeyProblem, string> = {
  missing: 'its resolver returned nothing for this request',
  invalid: 'its resolver returned something other than a string or a number',
  failed: 'its resolver threw',
};

/**
 * A scope resolver gave no usable key for this request. Mapped to HTTP 400 by the Nest module. The
 * message names the scope only: never the key's value nor the resolver's own error (see `cause`).
 */
export class BudgetKeyMissingError extends TokencapError {
  constructor(
    readonly scope: string,
    readonly problem: BudgetKeyProblem = 'missing',
    options?: { cause?: unknown },
  ) {
    super(
      `No budget key for scope "${scope}": ${KEY_PROBLEMS[problem] ?? KEY_PROBLEMS.missing}, and a ` +
        `request without a key is refused rather than left unlimited.`,
      options,
    );
  }
}

/**
 * A request the caller built cannot be metered as sent (a bad parameter value, an option Tokencap
 * cannot bound, a model with no price under a `usd` budget); nothing was sent and nothing charged.
 * The caller's fault, so the Nest module maps it to HTTP 400. `parameter` names the request field;
 * the message quotes its value (cut, so a client-chosen string cannot forge a log line).
 */
export class TokencapRequestError extends TokencapError {
  constructor(
    readonly parameter: string,
    value: unknown,
    expected: string,
    options?: { cause?: unknown; message?: string },
  ) {
    super(
      options?.message ??
        `Invalid ${parameter} ${typeof value === 'number' ? String(value) : quoteClientValue(value)} in the request: ${expected}. The request was not sent.`,
      options,
    );
  }
}

/** Why {@link UnmeteredCallError} refused a call. */
export type UnmeteredCallReason = 'no-budget' | 'unmetered-endpoint';

/**
 * A wrapped client was asked for a call Tokencap would not meter, and refused it rather than let
 * it run unseen: a call made with no budget open on a client wrapped with
 * `outsideBudget: 'refuse'` (`no-budget`), or, inside a budget, a billable request through a path
 * the wrapper does not meter (`client.post('/chat/completions')`, `client.requestAPIList()`,
 * `completions.create`, images, audio, batches, eval runs, Assistants runs: `unmetered-endpoint`). Nothing was sent. A programming error,
 * not the HTTP client's: not mapped to an HTTP status by the Nest module (it answers 500).
 */
export class UnmeteredCallError extends TokencapError {
  constructor(
    readonly reason: UnmeteredCallReason,
    /** The request path (`/chat/completions`), or the method called (`chat.completions.create`). */
    readonly path: string,
    where: string,
  ) {
    super(
      reason === 'no-budget'
        ? `${where}: ${path} was called with no budget open, and this client was wrapped with ` +
            `outsideBudget: 'refuse'. Call it inside runWithBudgets, a @Budget method or a request ` +
            `the Tokencap interceptor handles, or give the wrapper budgets. Nothing was sent.`
        : `${where}: ${quoteClientValue(path)} is billable and not metered by Tokencap, so it is ` +
            `refused inside a budget rather than run unseen. Use the metered methods ` +
            `(chat.completions.create, responses.create, embeddings.create, messages.create) or ` +
            `make the call outside any budget. Nothing was sent.`,
    );
  }
}

/** The ledger store could not be reached (fail-closed mode). Mapped to HTTP 503 by the Nest module. */
export class StoreUnavailableError extends TokencapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
