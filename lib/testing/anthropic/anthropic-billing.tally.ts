/**
 * Token counts the fake Anthropic API billed, in the API's own split: `inputTokens` is the uncached
 * input only (as `usage.input_tokens`), cache reads and writes are separate, `outputTokens`
 * includes thinking. Total input = `inputTokens + cacheReadInputTokens + cacheCreationInputTokens`.
 */
export interface AnthropicTokenTotals {
  /** Billed requests: each billed once, however many attempts the SDK made. */
  requests: number;
  inputTokens: number;
  cacheReadInputTokens: number;
  /** Cache writes, both lifetimes: `cacheCreation5mInputTokens + cacheCreation1hInputTokens`. */
  cacheCreationInputTokens: number;
  cacheCreation5mInputTokens: number;
  cacheCreation1hInputTokens: number;
  outputTokens: number;
  /** The part of `outputTokens` spent thinking. */
  thinkingTokens: number;
}

/** What the `usage` objects sent to clients added up to; differs from the bill only under a usage
 * fault, or when a stream ended before its `message_delta`. */
export interface AnthropicReportedTotals {
  /** Responses whose final usage (the message's, or `message_delta`'s) was sent well-formed. */
  responses: number;
  inputTokens: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
  outputTokens: number;
}

/** Snapshot of everything the fake Anthropic API billed since start or the last `reset()`. */
export interface FakeAnthropicTally extends AnthropicTokenTotals {
  /** The same totals per model named in the requests. */
  byModel: Record<string, AnthropicTokenTotals>;
  reported: AnthropicReportedTotals;
  /** `count_tokens` calls answered (free on the API, so never part of the bill). */
  countTokensRequests: number;
}

/** One request's billable work. */
export interface AnthropicBilledUsage {
  inputTokens: number;
  cacheReadInputTokens: number;
  cacheCreation5mInputTokens: number;
  cacheCreation1hInputTokens: number;
  outputTokens: number;
  thinkingTokens: number;
}

/** Ledger of what the fake billed; synchronous additions, so exact under any concurrency. */
export class AnthropicBillingTally {
  private totals = emptyTotals();
  private byModel = new Map<string, AnthropicTokenTotals>();
  private reported = emptyReported();
  private countTokens = 0;

  /** Records one billed request. */
  bill(model: string, usage: AnthropicBilledUsage): void {
    let perModel = this.byModel.get(model);
    if (!perModel) {
      perModel = emptyTotals();
      this.byModel.set(model, perModel);
    }
    for (const t of [this.totals, perModel]) {
      t.requests += 1;
      t.inputTokens += usage.inputTokens;
      t.cacheReadInputTokens += usage.cacheReadInputTokens;
      t.cacheCreation5mInputTokens += usage.cacheCreation5mInputTokens;
      t.cacheCreation1hInputTokens += usage.cacheCreation1hInputTokens;
      t.cacheCreationInputTokens +=
        usage.cacheCreation5mInputTokens + usage.cacheCreation1hInputTokens;
      t.outputTokens += usage.outputTokens;
      t.thinkingTokens += usage.thinkingTokens;
    }
  }

  /** Records a well-formed final usage object sent to a client. */
  report(usage: Omit<AnthropicReportedTotals, 'responses'>): void {
    this.reported.responses += 1;
    this.reported.inputTokens += usage.inputTokens;
    this.reported.cacheReadInputTokens += usage.cacheReadInputTokens;
    this.reported.cacheCreationInputTokens += usage.cacheCreationInputTokens;
    this.reported.outputTokens += usage.outputTokens;
  }

  /** Records an answered `count_tokens` call. */
  countTokensCall(): void {
    this.countTokens += 1;
  }

  /** A deep copy, safe to keep as a "before" value. */
  snapshot(): FakeAnthropicTally {
    return {
      ...this.totals,
      byModel: Object.fromEntries([...this.byModel].map(([m, t]) => [m, { ...t }])),
      reported: { ...this.reported },
      countTokensRequests: this.countTokens,
    };
  }

  /** Forgets everything billed so far. */
  reset(): void {
    this.totals = emptyTotals();
    this.byModel = new Map();
    this.reported = emptyReported();
    this.countTokens = 0;
  }
}

function emptyTotals(): AnthropicTokenTotals {
  return {
    requests: 0,
    inputTokens: 0,
    cacheReadInputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheCreation5mInputTokens: 0,
    cacheCreation1hInputTokens: 0,
    outputTokens: 0,
    thinkingTokens: 0,
  };
}

function emptyReported(): AnthropicReportedTotals {
  return {
    responses: 0,
    inputTokens: 0,
    cacheReadInputTokens: 0,
    cacheCreationInputTokens: 0,
    outputTokens: 0,
  };
}
