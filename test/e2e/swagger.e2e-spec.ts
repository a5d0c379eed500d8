import { Body, Controller, Get, HttpCode, Module, Post, Put } from '@nestjs/common';
import { ApiCreatedResponse, ApiProperty, DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { ApiBudgetResponses } from '../../lib/swagger/index.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { fixtureScopes, SESSION_HEADER } from '../fixtures/scopes.fixture.js';

class ReplyDto {
  @ApiProperty()
  reply!: string;
}

@Controller('docs')
class DocumentedController {
  // The decorators' order must not matter: one above the response type, one below.
  @Post('chat')
  @Budget('session', 1000, { window: '1h' })
  @ApiBudgetResponses({ status: 201 })
  @ApiCreatedResponse({ type: ReplyDto, description: 'The model’s reply.' })
  chat(@Body() body: { message: string }) {
    return { reply: body.message };
  }

  @Get('summary')
  @Budget('session', 1000)
  @ApiCreatedResponse({ type: ReplyDto })
  @ApiBudgetResponses()
  summary() {
    return { reply: 'ok' };
  }
}

// No `status`: each operation's success response is the one the route answers with.
@Controller('routes')
class RouteStatusController {
  @Post('created')
  @Budget('session', 1000)
  @ApiBudgetResponses()
  @ApiCreatedResponse({ type: ReplyDto, description: 'Made.' })
  created() {
    return { reply: 'ok' };
  }

  // Route decorators below this one are applied before it: the same answer.
  @ApiBudgetResponses()
  @HttpCode(202)
  @Post('accepted')
  accepted() {
    return { reply: 'ok' };
  }
}

@ApiBudgetResponses()
@Controller('whole')
class WholeController {
  @Post()
  make() {
    return {};
  }

  @Get()
  read() {
    return {};
  }

  @Put()
  @HttpCode(204)
  replace() {}

  // Its own decorator wins over the controller's.
  @Post('own')
  @ApiBudgetResponses({ status: 200 })
  @HttpCode(200)
  own() {
    return {};
  }
}

@Module({
  imports: [TokencapModule.forRoot({ scopes: fixtureScopes })],
  controllers: [DocumentedController, RouteStatusController, WholeController],
})
class DocumentedModule {}

describe('@ApiBudgetResponses() in the OpenAPI document', () => {
  let t: TestApp | undefined;
  afterEach(() => t?.app.close());

  it('documents the 429 body and headers, and the RateLimit headers of the success response', async () => {
    t = await createTestApp({ imports: [DocumentedModule] });
    const doc = SwaggerModule.createDocument(t.app, new DocumentBuilder().build());
    const chat = doc.paths['/docs/chat'].post!.responses as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(Object.keys(chat).sort()).toEqual(['201', '429']);
    expect(chat['201'].description).toBe('The model’s reply.');
    expect(chat['201'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/ReplyDto',
    });
    expect(Object.keys(chat['201'].headers)).toEqual(['RateLimit-Policy', 'RateLimit']);
    expect(Object.keys(chat['429'].headers)).toEqual([
      'Retry-After',
      'RateLimit-Policy',
      'RateLimit',
    ]);
    expect(chat['429'].headers['Retry-After'].schema).toEqual({ type: 'integer', minimum: 1 });
    const body = chat['429'].content['application/json'].schema;
    expect(body.required).toEqual(['statusCode', 'error', 'message', 'scope', 'limit', 'used']);
    expect(body.properties.statusCode).toEqual({ type: 'integer', enum: [429] });
    expect(body.properties.error).toEqual({ type: 'string', enum: ['Budget Exceeded'] });

    const summary = doc.paths['/docs/summary'].get!.responses as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(Object.keys(summary).sort()).toEqual(['200', '201', '429']);
    expect(Object.keys(summary['200'].headers)).toEqual(['RateLimit-Policy', 'RateLimit']);
    expect(summary['201'].headers).toBeUndefined();
  });

  it('documents the headers on the status the route answers with when no status is given', async () => {
    t = await createTestApp({ imports: [DocumentedModule] });
    const doc = SwaggerModule.createDocument(t.app, new DocumentBuilder().build());
    const responses = (path: string, method: 'get' | 'post' | 'put') => {
      const documented = doc.paths[path][method]!.responses as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      return Object.fromEntries(
        Object.entries(documented).map(([status, r]) => [status, Object.keys(r.headers ?? {})]),
      );
    };
    const rateLimit = ['RateLimit-Policy', 'RateLimit'];
    const tooMany = ['Retry-After', ...rateLimit];
    expect(responses('/routes/created', 'post')).toEqual({ 201: rateLimit, 429: tooMany });
    expect(
      (doc.paths['/routes/created'].post!.responses as Record<string, { description: string }>)[
        '201'
      ].description,
    ).toBe('Made.');
    expect(responses('/routes/accepted', 'post')).toEqual({ 202: rateLimit, 429: tooMany });
    expect(responses('/whole', 'post')).toEqual({ 201: rateLimit, 429: tooMany });
    expect(responses('/whole', 'get')).toEqual({ 200: rateLimit, 429: tooMany });
    expect(responses('/whole', 'put')).toEqual({ 204: rateLimit, 429: tooMany });
    expect(responses('/whole/own', 'post')).toEqual({ 200: rateLimit, 429: tooMany });

    // What the routes answer: the documented statuses.
    for (const [path, method, status] of [
      ['/routes/created', 'post', 201],
      ['/routes/accepted', 'post', 202],
      ['/whole', 'post', 201],
      ['/whole', 'get', 200],
      ['/whole', 'put', 204],
    ] as const) {
      const res = await request(t.app.getHttpServer())[method](path).set(SESSION_HEADER, 's');
      expect(res.status, `${method} ${path}`).toBe(status);
    }
  });

  it('refuses a status that is not a success', () => {
    expect(() => ApiBudgetResponses({ status: 429 })).toThrow(
      'Invalid status 429 of @ApiBudgetResponses(): expected a 2xx status code.',
    );
  });
});
