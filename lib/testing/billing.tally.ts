/** Token counts the fake billed, as totals. `promptTokens` includes `cachedTokens` and
 * `completionTokens` includes `reasoningTokens`, exactly as the API's usage fields do. */
export interface TokenTotals {
  /** Requests that produced billable work (failed, refused and unanswered requests are excluded). */
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

/** The usage figures the fake put on the wire, which differ from the billed ones only under a
 * usage fault (`omit-usage`, `malformed-usage`, `over-report-usage`) or a cut stream. */
export interface ReportedTotals {
  /** Responses whose usage object was actually sent with well-formed numbers. */
  responses: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** Snapshot of everything the fake billed since start or the last `reset()`. */
export interface FakeOpenAITally extends TokenTotals {
  /** The same totals split by the model named in each request (an object with no prototype). */
  byModel: Record<string, TokenTotals>;
  /** What the usage objects sent to clients added up to. */
  reported: ReportedTotals;
}

/** One request's billable work. */
export interface BilledUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

/**
 * Ledger of billed tokens. Every update is a handful of synchronous additions, so on Node's single
 * thread it stays exact however many requests run in parallel; no locking is needed.
 */
export class BillingTally {
  private totals = emptyTotals();
  private byModel = new Map<string, TokenTotals>();
  private reported = emptyReported();

  /** Records the work done for one request. */
  bill(model: string, usage: BilledUsage): void {
    let perModel = this.byModel.get(model);
    if (!perModel) {
      perModel = emptyTotals();
      this.byModel.set(model, perModel);
    }
    for (const target of [this.totals, perModel]) {
      target.requests += 1;
      target.promptTokens += usage.promptTokens;
      target.completionTokens += usage.completionTokens;
      target.totalTokens += usage.promptTokens + usage.completionTokens;
      target.cachedTokens += usage.cachedTokens;
      target.reasoningTokens += usage.reasoningTokens;
    }
  }

  /** Records a usage object that was sent to a client. */
  report(promptTokens: number, completionTokens: number): void {
    this.reported.responses += 1;
    this.reported.promptTokens += promptTokens;
    this.reported.completionTokens += completionTokens;
    this.reported.totalTokens += promptTokens + completionTokens;
  }

  /** A deep copy, so callers can keep it as a "before" value while requests go on. */
  snapshot(): FakeOpenAITally {
    return {
      ...this.totals,
      byModel: byModelRecord(this.byModel),
      reported: { ...this.reported },
    };
  }

  /** Forgets everything billed so far. */
  reset(): void {
    this.totals = emptyTotals();
    this.byModel = new Map();
    this.reported = emptyReported();
  }
}

// No prototype: `byModel.constructor` or `byModel.toString` of a model never billed is
// undefined, and a model named `__proto__` is an ordinary key.
function byModelRecord(byModel: ReadonlyMap<string, TokenTotals>): Record<string, TokenTotals> {
  const record = Object.create(null) as Record<string, TokenTotals>;
  for (const [model, totals] of byModel) record[model] = { ...totals };
  return record;
}

function emptyTotals(): TokenTotals {
  return {
    requests: 0,
    promptTokens: 0,
    completionTokens: 0,
    totalTokens: 0,
    cachedTokens: 0,
    reasoningTokens: 0,
  };
}

function emptyReported(): ReportedTotals {
  return { responses: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0 };
}
