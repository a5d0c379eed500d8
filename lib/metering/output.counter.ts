import { countTokens, estimateTokens } from '../counting/index.js';
import type { OutputSink } from './provider-endpoint.interface.js';

/**
 * Counts the output of one response as it arrives. Each delta is counted on arrival, a running
 * total that usually runs a little high (a token split across two deltas is counted in both);
 * {@link exact} counts each channel's whole text, for the limit check and the final charge.
 */
export class OutputCounter implements OutputSink {
  private readonly channels = new Map<string, string[]>();
  private running = 0;
  private exactCount: number | undefined = 0;

  /**
   * `countText` counts a piece of text (it may return fractions: totals are rounded down), else
   * the model's encoding (or the estimator) does.
   */
  constructor(
    private readonly model: string,
    private readonly countText?: (text: string, model: string) => number,
  ) {}

  add(channel: string, text: string): void {
    if (text.length === 0) return;
    let parts = this.channels.get(channel);
    if (!parts) this.channels.set(channel, (parts = []));
    parts.push(text);
    this.running += this.count(text);
    this.exactCount = undefined;
  }

  /** Whether the output so far exceeds `limit` tokens, counted exactly before saying yes. */
  exceeds(limit: number): boolean {
    if (this.running <= limit) return false;
    this.running = this.exact();
    return this.running > limit;
  }

  /** The exact token count of everything received so far. */
  exact(): number {
    if (this.exactCount === undefined) {
      let total = 0;
      for (const parts of this.channels.values()) total += this.count(parts.join(''));
      this.exactCount = Math.floor(total);
    }
    return this.exactCount;
  }

  private count(text: string): number {
    if (this.countText) return this.countText(text, this.model);
    try {
      return countTokens(text, this.model);
    } catch {
      return estimateTokens(text);
    }
  }
}
