import type { CountContext } from './count-context.interface.js';
import { isObject } from './object.guard.js';

/**
 * Tokens of a message `content`, shared by the Chat and Responses formulas: a string, or an
 * array of parts. Text-bearing parts (`text`, `input_text`, `output_text`, `refusal`) count
 * their text; image parts (`image_url`, `input_image`) count `ctx.imageTokens` each; audio and
 * file parts count 0, since their cost depends on data the request does not spell out.
 */
export function countContent(content: unknown, ctx: CountContext): number {
  if (typeof content === 'string') return ctx.text(content);
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const part of content) {
    if (typeof part === 'string') {
      total += ctx.text(part);
    } else if (isObject(part)) {
      if (typeof part.text === 'string') total += ctx.text(part.text);
      else if (typeof part.refusal === 'string') total += ctx.text(part.refusal);
      else if (part.type === 'image_url' || part.type === 'input_image') total += ctx.imageTokens;
    }
  }
  return total;
}

/** Tokens of `value` when it is a string, 0 otherwise. */
export function countIfString(value: unknown, ctx: CountContext): number {
  return typeof value === 'string' ? ctx.text(value) : 0;
}
