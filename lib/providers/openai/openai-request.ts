import { shallowCopy } from '../../core/shallow-copy.js';
import type { RequestBody } from '../../metering/provider-endpoint.interface.js';

/** The `model` an OpenAI request names (`''` when it names none). */
export function modelOf(body: RequestBody): string {
  return typeof body.model === 'string' ? body.model : '';
}

/** A copy of an OpenAI request that asks for `model`. */
export function withModel(body: RequestBody, model: string): RequestBody {
  const copy: Record<string, unknown> = shallowCopy(body);
  copy.model = model;
  return copy;
}
