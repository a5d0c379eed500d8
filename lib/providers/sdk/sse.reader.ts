/**
 * The JSON payloads of a server-sent event stream, up to `[DONE]` (OpenAI) or the end of the body
 * (Anthropic, whose events name their type in the payload too). Cancels the reader when done, so
 * what a tee buffered for this copy is freed while the caller's copy reads on unaffected.
 */
export async function* serverSentData(
  body: ReadableStream<Uint8Array> | null,
): AsyncGenerator<unknown> {
  if (!body) return;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0 || (done && buffer.length > 0)) {
        const end = newline >= 0 ? newline : buffer.length;
        const line = buffer.slice(0, end).replace(/\r$/, '');
        buffer = buffer.slice(end + 1);
        if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        } else if (line === '' && data.length > 0) {
          const payload = data.join('\n');
          data = [];
          if (payload.startsWith('[DONE]')) return;
          yield JSON.parse(payload);
        }
      }
      if (done) return;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
