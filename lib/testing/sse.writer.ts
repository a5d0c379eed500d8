import type { ClientConnection } from './client.connection.js';

/**
 * Writes Server-Sent Events in the framing OpenAI uses: `data: <json>\n\n` for chat completions,
 * `event: <type>\ndata: <json>\n\n` for the Responses API.
 */
export class SseWriter {
  constructor(
    private readonly connection: ClientConnection,
    private readonly requestId: string,
  ) {}

  /** Sends the status line and SSE headers. */
  open(): void {
    this.connection.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': this.requestId,
    });
    // Headers go out now, as the real API's do before the first token, so client-side
    // time-to-first-byte measurements see the stream open.
    this.connection.res.flushHeaders();
  }

  /** Sends one event; `event` adds the `event:` line. @returns false if the client is gone. */
  send(data: unknown, event?: string): Promise<boolean> {
    const head = event === undefined ? '' : `event: ${event}\n`;
    return this.connection.write(`${head}data: ${JSON.stringify(data)}\n\n`);
  }

  /** Sends the chat-completions terminator. @returns false if the client is gone. */
  done(): Promise<boolean> {
    return this.connection.write('data: [DONE]\n\n');
  }

  /** Ends the response normally. */
  end(): void {
    if (!this.connection.gone) this.connection.res.end();
  }
}
