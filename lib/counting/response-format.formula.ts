import type { CountContext } from './count-context.interface.js';
import { countJsonText } from './json-text.counter.js';
import { isObject } from './object.guard.js';

// A response format is shown to the model as a section of the system prompt: a heading, its name
// and its schema (the rendering is unpublished; this is the framing of the Harmony format's
// "# Response Formats" section, rounded up).
const FORMAT_FRAME = 8;

/**
 * Tokens of a structured-output format, Chat's `response_format` or the Responses API's
 * `text.format`: a fixed frame plus every key and value it holds, `json_schema.schema` at any
 * depth (see {@link countJsonText}). The plain-text format (`{ type: 'text' }`, the default)
 * adds nothing to the prompt and counts 0.
 */
export function countResponseFormat(format: unknown, ctx: CountContext): number {
  if (format === undefined || format === null) return 0;
  if (isObject(format) && format.type === 'text' && Object.keys(format).length === 1) return 0;
  return FORMAT_FRAME + countJsonText(format, ctx.text);
}
