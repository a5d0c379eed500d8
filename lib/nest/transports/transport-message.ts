import type { ExecutionContext } from '@nestjs/common';

/**
 * What a scope resolver is given for one handler call, and what identifies the message it serves.
 * Read from the `ExecutionContext`'s arguments as each transport lays them out, so no transport
 * package (`@nestjs/graphql`, `@nestjs/websockets`, `@nestjs/microservices`) is loaded.
 */
export interface TransportMessage {
  /** Handed to scope resolvers as their first argument. */
  readonly request: unknown;
  /**
   * One object per HTTP request, GraphQL operation, WebSocket message or RPC message: every
   * guard and interceptor of that message finds the same call (the same `request` budget and
   * resolved keys) through it. Not an object: each handler call is a call of its own.
   */
  readonly owner: unknown;
}

/**
 * The request and message of a handler call:
 * - `http`: the platform request, for both.
 * - `graphql` (arguments `[parent, args, context, info]`): the GraphQL context's `req` (the HTTP
 *   request, with Nest's default context), else the GraphQL context itself; the message is the
 *   operation, whose resolvers and field resolvers all receive the same GraphQL context object.
 * - `ws` (arguments `[socket, data, pattern]`): the socket (its `handshake`, and `data` from
 *   `context.switchToWs().getData()`); the message is the data object the client sent.
 * - `rpc` (arguments `[payload, context]`): the payload; the message is the transport's
 *   per-message context (`TcpContext`…).
 */
export function transportMessageOf(context: ExecutionContext): TransportMessage {
  const args = context.getArgs();
  switch (context.getType<string>()) {
    case 'http': {
      const request: unknown = context.switchToHttp().getRequest();
      return { request, owner: request };
    }
    case 'graphql': {
      const gqlContext: unknown = args[2];
      const req = isObject(gqlContext) ? (gqlContext as { req?: unknown }).req : undefined;
      return { request: req ?? gqlContext, owner: gqlContext };
    }
    default:
      // ws: the socket is shared by every message on it, so the message is the data;
      // rpc: the payload, and the per-message context.
      return { request: args[0], owner: args[1] };
  }
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}
