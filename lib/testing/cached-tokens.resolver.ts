import { CACHED_TOKENS_HEADER, readTokenHeader } from './reply.planner.js';
import type { RouteContext } from './route.context.js';

/**
 * `cached_tokens`: the `x-fake-cached-tokens` header when present (clamped to the prompt),
 * otherwise the prompt-cache simulation over the prompt's segments (tools, instructions, then
 * each message or input item; `undefined` segments are skipped).
 */
export function resolveCachedTokens(
  ctx: RouteContext,
  model: string,
  segments: readonly unknown[],
  promptTokens: number,
): number {
  const forced = readTokenHeader(ctx.request.headers, CACHED_TOKENS_HEADER);
  if (forced !== undefined) return Math.min(forced, promptTokens);
  const serialised = segments.filter((s) => s !== undefined).map((s) => JSON.stringify(s));
  return ctx.cache.lookup(model, serialised, promptTokens);
}
