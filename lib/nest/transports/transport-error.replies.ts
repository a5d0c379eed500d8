import type { ArgumentsHost } from '@nestjs/common';
import { type Observable, throwError } from 'rxjs';
import { BudgetKeyMissingError } from '../../errors.js';

/**
 * The body of a refused call, whatever the transport: the HTTP body of the same error
 * (`budgetErrorResponse`), whose type is not imported here so the filter can import this file.
 */
interface ErrorBody {
  readonly statusCode: 429 | 400 | 503;
  readonly message: string;
}

// The `extensions.code` of a BudgetGraphQLError. Two errors answer 400 (a missing budget key, an
// LLM request Tokencap cannot meter as sent), so the code follows the error, not only its status.
type BudgetGraphQLCode =
  'BUDGET_EXCEEDED' | 'BUDGET_KEY_MISSING' | 'LLM_REQUEST_INVALID' | 'BUDGET_STORE_UNAVAILABLE';

function graphQLCode(statusCode: 429 | 400 | 503, cause: Error): BudgetGraphQLCode {
  if (statusCode === 429) return 'BUDGET_EXCEEDED';
  if (statusCode === 503) return 'BUDGET_STORE_UNAVAILABLE';
  return cause instanceof BudgetKeyMissingError ? 'BUDGET_KEY_MISSING' : 'LLM_REQUEST_INVALID';
}

/**
 * What a WebSocket client receives as an `exception` event when a message is refused: Nest's own
 * `{ status: 'error', message, cause: { pattern } }` shape (without `data`), with the fields of the HTTP body
 * of the same error (`error`, `scope`, and `limit`, `used` for a 429).
 */
export interface BudgetWsException {
  readonly status: 'error';
  readonly statusCode: 429 | 400 | 503;
  readonly message: string;
  /**
   * The pattern of the refused message. Nest's own shape also echoes the message's `data`; it is
   * left out here because it may carry the budget's key.
   */
  readonly cause: { readonly pattern: unknown };
  readonly [field: string]: unknown;
}

/**
 * The error thrown to GraphQL for a refused resolver. graphql-js copies `extensions` from the error
 * a resolver throws, so the client reads the body from `errors[i].extensions` with no import of
 * `graphql` here. The message is the body's, which never names the budget's key.
 */
export class BudgetGraphQLError extends Error {
  override readonly name = 'BudgetGraphQLError';
  /**
   * `code` (`BUDGET_EXCEEDED` for a 429 body, `BUDGET_KEY_MISSING` for a missing key's 400,
   * `LLM_REQUEST_INVALID` for a refused LLM request's 400, `BUDGET_STORE_UNAVAILABLE` for 503) and
   * every field of the HTTP body.
   */
  readonly extensions: {
    readonly code:
      'BUDGET_EXCEEDED' | 'BUDGET_KEY_MISSING' | 'LLM_REQUEST_INVALID' | 'BUDGET_STORE_UNAVAILABLE';
    readonly statusCode: 429 | 400 | 503;
    readonly message: string;
    readonly [field: string]: unknown;
  };

  /** @param body the HTTP body of `cause` (`budgetErrorResponse(cause)`). */
  constructor(
    body: { readonly statusCode: 429 | 400 | 503; readonly message: string },
    cause: Error,
  ) {
    super(body.message, { cause });
    this.extensions = { code: graphQLCode(body.statusCode, cause), ...body };
  }
}

/**
 * Answers a Tokencap error on a transport other than HTTP, as each one expects its exception
 * filters to:
 * - `graphql`: throws a {@link BudgetGraphQLError} (the field resolves to a GraphQL error);
 * - `ws`: emits `exception` to the socket that sent the message, and the connection stays up;
 * - `rpc`: returns an Observable that errors with the body, as an `RpcException(body)` would, so
 *   the caller's `ClientProxy.send()` errors with it.
 * Any other transport gets the error itself rethrown.
 */
export function replyOverTransport(
  error: Error,
  body: ErrorBody,
  host: ArgumentsHost,
): Observable<never> | undefined {
  switch (host.getType<string>()) {
    case 'graphql':
      throw new BudgetGraphQLError(body, error);
    case 'ws': {
      const ws = host.switchToWs();
      const args = host.getArgs<unknown[]>();
      // The pattern is the last argument Nest passes to a gateway's exception handling.
      const payload: BudgetWsException = {
        status: 'error',
        ...body,
        cause: { pattern: args[args.length - 1] },
      };
      emitToSocket(ws.getClient<unknown>(), payload);
      return undefined;
    }
    case 'rpc':
      return throwError(() => body);
    default:
      throw error;
  }
}

// Socket.IO sockets have `emit`; native WebSockets (`ws`) have `send` and a numeric `readyState`
// (their `emit` only dispatches locally), and get `{ event, data }` as JSON, as Nest sends them.
function emitToSocket(client: unknown, payload: object): void {
  const socket = client as {
    readyState?: unknown;
    send?: (data: string) => void;
    emit?: (event: string, data: unknown) => void;
  } | null;
  if (typeof socket?.readyState === 'number' && typeof socket.send === 'function') {
    socket.send(JSON.stringify({ event: 'exception', data: payload }));
  } else if (typeof socket?.emit === 'function') {
    socket.emit('exception', payload);
  }
}
