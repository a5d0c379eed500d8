/** A server-sent event body read as it arrives, for a reader who may be slower. */
export interface SseTap {
  /** The same events for the SDK, each handed on only once `onEvent` has seen it. */
  readonly body: ReadableStream<Uint8Array>;
  /** Resolves once the source ended, failed or was stopped, and every event in it was seen. */
  readonly ended: Promise<void>;
  /**
   * Stops reading (cancelling the source closes the connection); the SDK's body ends after what
   * it was already handed. No-op once ended.
   */
  stop(): void;
}

const LINE_END = /\r\n|\r|\n/g;

/**
 * Reads `source` eagerly, whatever the pace of the SDK's reader: each event's JSON payload goes to
 * `onEvent` as soon as its bytes arrive, and the bytes are then queued for the SDK on
 * {@link SseTap.body} (held in memory until read: at most the response itself). When `onEvent`
 * returns `false`, that event and everything after it are withheld, the SDK's body ends after the
 * events before it, and the source is cancelled. A failed source fails the SDK's body with the same
 * error, at once, as the source itself would have (an abort drops what was queued). Cancelling
 * the SDK's body (a `break`) cancels the source. The source is locked at once, so nothing else can
 * start reading it first.
 */
export function tapServerSentEvents(
  source: ReadableStream<Uint8Array>,
  onEvent: (payload: unknown) => boolean,
): SseTap {
  const reader = source.getReader();
  let sdk!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    reader.cancel().catch(() => {});
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start: (controller) => {
        sdk = controller;
      },
      cancel: () => {
        open = false;
        stop();
      },
    },
    { highWaterMark: 0 },
  );
  const events = new EventSplitter(onEvent);
  const encoder = new TextEncoder();
  const forward = (text: string) => {
    if (open && text.length > 0) sdk.enqueue(encoder.encode(text));
  };
  const close = () => {
    if (!open) return;
    open = false;
    sdk.close();
  };
  const pump = async () => {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        // A piece that came before a stop is still seen: it arrived, so it was billed.
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        const kept = events.push(text);
        forward(text.slice(0, kept));
        if (kept < text.length) {
          stop();
          break;
        }
      }
      if (!stopped) forward(decoder.decode());
      close();
    } catch (error) {
      open = false;
      sdk.error(error);
    }
  };
  return { body, ended: pump(), stop };
}

/** Splits server-sent text into events, handing each event's payload on as it completes. */
class EventSplitter {
  private line = '';
  private data: string[] = [];
  private cr = false;
  private refused = false;

  constructor(private readonly onEvent: (payload: unknown) => boolean) {}

  /**
   * Takes the next piece of text; returns how much of it to pass on: all of it, or the part before
   * the event `onEvent` refused (the events before it, complete).
   */
  push(text: string): number {
    if (this.refused) return 0;
    let start = 0;
    // Where the event being read began in `text`: 0 when it began in an earlier piece.
    let eventStart = 0;
    LINE_END.lastIndex = 0;
    for (let match = LINE_END.exec(text); match; match = LINE_END.exec(text)) {
      const end = match.index + match[0].length;
      // A `\r\n` split across two pieces: its `\n` ends no line.
      const skip = this.cr && match.index === 0 && match[0] === '\n';
      this.cr = match[0] === '\r' && end === text.length;
      if (skip) {
        start = end;
        continue;
      }
      const line = this.line + text.slice(start, match.index);
      this.line = '';
      start = end;
      if (line.startsWith('data:')) {
        this.data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      } else if (line === '') {
        if (this.data.length > 0 && !this.dispatch()) {
          this.refused = true;
          return eventStart;
        }
        eventStart = end;
      }
    }
    this.line += text.slice(start);
    return text.length;
  }

  private dispatch(): boolean {
    const payload = this.data.join('\n');
    this.data = [];
    if (payload.startsWith('[DONE]')) return true;
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return true; // The SDK fails the caller's loop on it; there is nothing to count.
    }
    return this.onEvent(parsed);
  }
}
