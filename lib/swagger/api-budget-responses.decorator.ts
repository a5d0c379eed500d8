import { HttpStatus, RequestMethod } from '@nestjs/common';
import { ApiResponse, DECORATORS } from '@nestjs/swagger';
import { TokencapConfigError } from '../errors.js';
import { assertKnownOptions } from '../core/known-options.guard.js';

/** Options of {@link ApiBudgetResponses}. */
export interface ApiBudgetResponsesOptions {
  /**
   * The success status whose response documents the RateLimit headers. Its own description and
   * type, from `@ApiOkResponse()` or `@ApiCreatedResponse()`, are kept whatever the decorators'
   * order.
   * @default the status the route answers with, per operation: its `@HttpCode()`, else `201` for a
   * `@Post()` and `200` for any other method (as Nest and `@nestjs/swagger` choose it)
   */
  status?: number;
}

const RATE_LIMIT_HEADERS = {
  'RateLimit-Policy': {
    description:
      'One item per budget open for this call: `"<scope>";q=<quota>` plus `;w=<window in seconds>` for a ' +
      "windowed budget. The quota is in the budget's first dimension: tokens, else micro-dollars, else requests.",
    schema: { type: 'string', example: '"session";q=50000;w=3600' },
  },
  RateLimit: {
    description:
      'What each budget has left after this call (`r`, in the unit of its quota) and, for a windowed ' +
      'budget, the seconds until it resets (`t`).',
    schema: { type: 'string', example: '"session";r=1234;t=1800' },
  },
} as const;

const TOO_MANY_REQUESTS = ApiResponse({
  status: 429,
  description:
    'A budget of this operation is spent: the call was refused before the model was called.',
  headers: {
    'Retry-After': {
      description:
        'Seconds until the refusing budget resets. Absent when waiting cannot help: the budget ' +
        'has no window, or the call asks for more than its whole limit.',
      schema: { type: 'integer', minimum: 1 },
    },
    ...RATE_LIMIT_HEADERS,
  },
  schema: {
    type: 'object',
    required: ['statusCode', 'error', 'message', 'scope', 'limit', 'used'],
    properties: {
      statusCode: { type: 'integer', enum: [429] },
      error: { type: 'string', enum: ['Budget Exceeded'] },
      message: {
        type: 'string',
        example: 'Budget "session" exceeded: the call needs 300 tokens, 100 of 1000 tokens remain.',
      },
      scope: { type: 'string', example: 'session' },
      limit: { type: 'number', description: 'In the unit of the refusing dimension.' },
      used: { type: 'number', description: 'Committed usage in the current window.' },
    },
  },
});

// Nest's METHOD_METADATA and HTTP_CODE_METADATA (from `@nestjs/common/constants`, not its root).
const ROUTE_METHOD = 'method';
const HTTP_CODE = '__httpCode__';
// Marks an operation this decorator documented, so a class-level one leaves it to the method's own.
const DOCUMENTED = Symbol.for('tokencap.swagger.budget-responses');

/**
 * Documents a budgeted operation for `@nestjs/swagger`: its 429 response (the JSON body of a refused
 * call, `Retry-After`, and the RateLimit headers) and the RateLimit headers of its success response
 * (by default the status the route answers with). On a controller class, it documents every
 * operation, each with its own success status.
 * @example
 * ```ts
 * @Post('chat')
 * @Budget('session', 50_000, { window: '1h' })
 * @ApiBudgetResponses()
 * chat(@Body() body: ChatDto) { … }
 * ```
 */
export function ApiBudgetResponses(
  options: ApiBudgetResponsesOptions = {},
): MethodDecorator & ClassDecorator {
  assertKnownOptions(options, ['status'], '@ApiBudgetResponses()');
  const status = options.status;
  if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 299)) {
    throw new TokencapConfigError(
      `Invalid status ${JSON.stringify(status)} of @ApiBudgetResponses(): expected a 2xx status code.`,
    );
  }
  return ((target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor) {
      const handler = descriptor.value as object;
      document(target, key!, handler);
      if (status !== undefined) withHeaders(handler, status);
      // `@Post()` and `@HttpCode()` written above this decorator are applied after it, and
      // `@Budget()` there may wrap the method: every decorator of the class has run by the next
      // microtask (long before a document is built), so the route is read from the method then.
      else
        queueMicrotask(() => {
          const route = (Object.getOwnPropertyDescriptor(target, key!)?.value ?? handler) as object;
          withHeaders(route, successStatus(route));
        });
      return descriptor;
    }
    // Class decorators run after every member's, so each route's own status is known here.
    for (const [name, handler] of routeHandlers((target as { prototype: object }).prototype)) {
      if (Reflect.getMetadata(DOCUMENTED, handler)) continue;
      document(target, name, handler);
      withHeaders(handler, status ?? successStatus(handler));
    }
    return undefined;
  }) as MethodDecorator & ClassDecorator;
}

function document(target: object, key: string | symbol, handler: object): void {
  Reflect.defineMetadata(DOCUMENTED, true, handler);
  TOO_MANY_REQUESTS(target, key, { value: handler });
}

/** The status Nest answers a route with: its `@HttpCode()`, else 201 for POST, else 200. */
function successStatus(handler: object): number {
  const code = Reflect.getMetadata(HTTP_CODE, handler) as number | undefined;
  if (code !== undefined) return code;
  const method = Reflect.getMetadata(ROUTE_METHOD, handler) as RequestMethod | undefined;
  return method === RequestMethod.POST ? HttpStatus.CREATED : HttpStatus.OK;
}

/** The route handlers of a controller, own and inherited (the nearest of a name wins). */
function routeHandlers(prototype: object): Map<string, object> {
  const handlers = new Map<string, object>();
  for (
    let proto: object | null = prototype;
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const value = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
      if (name === 'constructor' || handlers.has(name) || typeof value !== 'function') continue;
      if (Reflect.getMetadata(ROUTE_METHOD, value) !== undefined) handlers.set(name, value);
    }
  }
  return handlers;
}

type ResponsesMetadata = Record<
  string,
  { description?: string; headers?: Record<string, unknown> } | undefined
>;

/**
 * Adds the RateLimit headers to the documented response `status` of `handler`, keeping what else
 * it documents. Not `ApiResponse()`, which sets `type: undefined` and so, merged after
 * `@ApiOkResponse({ type })`, would erase the type.
 */
function withHeaders(handler: object, status: number): void {
  const responses = (Reflect.getMetadata(DECORATORS.API_RESPONSE, handler) ??
    {}) as ResponsesMetadata;
  const existing: { description?: string; headers?: Record<string, unknown> } = responses[
    status
  ] ?? { description: '' };
  Reflect.defineMetadata(
    DECORATORS.API_RESPONSE,
    {
      ...responses,
      [status]: { ...existing, headers: { ...existing.headers, ...RATE_LIMIT_HEADERS } },
    },
    handler,
  );
}
