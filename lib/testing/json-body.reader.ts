import type { IncomingMessage } from 'node:http';

import { FakeHttpError } from './openai-error.factory.js';

/** Bodies above this are refused; large enough for any prompt a test builds, small enough that a
 * runaway benchmark cannot exhaust memory. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** A request body as received: the raw text and, when it parses, the JSON value. */
export interface ReadBody {
  raw: string;
  json: unknown;
  /** False when the body is non-empty but not valid JSON. */
  parsed: boolean;
}

/**
 * Reads the whole request body.
 * @throws FakeHttpError 413 when the body exceeds 32 MiB.
 */
export async function readJsonBody(req: IncomingMessage): Promise<ReadBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new FakeHttpError(413, {
        message: `Request body exceeds ${MAX_BODY_BYTES} bytes.`,
        type: 'invalid_request_error',
      });
    }
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks).toString('utf8');
  if (raw.trim() === '') return { raw, json: undefined, parsed: true };
  try {
    return { raw, json: JSON.parse(raw) as unknown, parsed: true };
  } catch {
    return { raw, json: undefined, parsed: false };
  }
}
