import type { IncomingHttpHeaders } from 'node:http';

/** One request as the fake received it, before any fault or validation applied. */
export interface RecordedRequest {
  /** 1-based arrival order since start or the last `reset()`. */
  seq: number;
  method: string;
  /** Path without the query string, e.g. `'/v1/chat/completions'`. */
  path: string;
  /** Query string parameters, if any. */
  query: Record<string, string>;
  /** Header names are lower-case, as Node gives them. */
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or `undefined` when the body was empty or not JSON. */
  body: unknown;
  rawBody: string;
  /** Epoch milliseconds, from the server's clock. */
  receivedAt: number;
}

/**
 * Arrival-ordered log of requests, so tests can assert what reached the provider, including
 * that nothing did when Tokencap refused a call.
 */
export class RequestLog {
  private entries: RecordedRequest[] = [];
  private seq = 0;

  constructor(private readonly keep: boolean) {}

  /** Assigns the next sequence number and stores the request (unless recording is off). */
  record(entry: Omit<RecordedRequest, 'seq'>): RecordedRequest {
    const recorded: RecordedRequest = { seq: ++this.seq, ...entry };
    if (this.keep) this.entries.push(recorded);
    return recorded;
  }

  /** A copy, so later arrivals do not change an array a test is iterating over. */
  list(): readonly RecordedRequest[] {
    return [...this.entries];
  }

  /** Forgets every request and restarts numbering at 1. */
  reset(): void {
    this.entries = [];
    this.seq = 0;
  }
}
