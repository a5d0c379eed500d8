import type { StartedCall } from './sdk-call.types.js';

/**
 * A `degrade` budget's fallback answer, returned as is. Its synthetic response names the budget's
 * scope (a name the app chose), never its key: keys come from clients, and a header can carry
 * neither their characters (non-Latin-1, CR/LF) nor their secrecy.
 */
export function fallbackCall(data: unknown, scope: string): StartedCall {
  const response = () =>
    new Response(JSON.stringify(data ?? null), {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-tokencap-fallback': scope },
    });
  return {
    parse: async () => ({ data, props: undefined }),
    response: async () => response(),
    rawForCaller: async () => response(),
    responseProps: async () => ({
      response: response(),
      options: {},
      controller: new AbortController(),
      requestLogID: '',
      retryOfRequestLogID: undefined,
      startTime: Date.now(),
    }),
    whenAnswered: () => {},
    abandon: () => {},
  };
}
