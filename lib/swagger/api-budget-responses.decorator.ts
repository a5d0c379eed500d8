import { applyDecorators } from '@nestjs/common';
import { ApiResponse, DECORATORS } from '@nestjs/swagger';
import { TokencapConfigError } from '../errors.js';

/** Options of {@link ApiBudgetResponses}. */
export interface ApiBudgetResponsesOptions {
  /**
   * The success status whose response documents the RateLimit headers (`201` for a `@Post()`
   * without `@HttpCode`). Its own description and type, from `@ApiOkResponse()` or
   * `@ApiCreatedResponse()`, are kept whatever the decorators' order.
   * @default 200
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

/**
 * Documents a budgeted operation for `@nestjs/swagger`: its 429 response (the JSON body of a refused
 * call, `Retry-After`, and the RateLimit headers) and the RateLimit headers of its success response.
 * On a controller class, it documents every operation.
 * @example
 * ```ts
 * @Post('chat')
 * @Budget('session', 50_000, { window: '1h' })
 * @ApiBudgetResponses({ status: 201 })
 * chat(@Body() body: ChatDto) { … }
 * ```
 */
export function ApiBudgetResponses(
  options: ApiBudgetResponsesOptions = {},
): MethodDecorator & ClassDecorator {
  const status = options.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 299) {
    throw new TokencapConfigError(
      `Invalid status ${JSON.stringify(options.status)} of @ApiBudgetResponses(): expected a 2xx status code.`,
    );
  }
  return applyDecorators(
    withHeaders(status, RATE_LIMIT_HEADERS),
    ApiResponse({
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
            example:
              'Budget "session" exceeded: the call needs 300 tokens, 100 of 1000 tokens remain.',
          },
          scope: { type: 'string', example: 'session' },
          limit: { type: 'number', description: 'In the unit of the refusing dimension.' },
          used: { type: 'number', description: 'Committed usage in the current window.' },
        },
      },
    }),
  );
}

type ResponsesMetadata = Record<
  string,
  { description?: string; headers?: Record<string, unknown> } | undefined
>;

/**
 * Adds `headers` to the documented response `status`, keeping what else it documents. Not
 * `ApiResponse()`, which sets `type: undefined` and so, merged after `@ApiOkResponse({ type })`,
 * would erase the type.
 */
function withHeaders(
  status: number,
  headers: Record<string, unknown>,
): MethodDecorator & ClassDecorator {
  return ((target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    const host = (descriptor ? descriptor.value : target) as object;
    const responses = (Reflect.getMetadata(DECORATORS.API_RESPONSE, host) ??
      {}) as ResponsesMetadata;
    const existing: { description?: string; headers?: Record<string, unknown> } = responses[
      status
    ] ?? { description: '' };
    Reflect.defineMetadata(
      DECORATORS.API_RESPONSE,
      { ...responses, [status]: { ...existing, headers: { ...existing.headers, ...headers } } },
      host,
    );
    return descriptor;
  }) as MethodDecorator & ClassDecorator;
}
