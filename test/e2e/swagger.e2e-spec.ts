import { Body, Controller, Get, Module, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiProperty, DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { afterEach, describe, expect, it } from 'vitest';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { ApiBudgetResponses } from '../../lib/swagger/index.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { fixtureScopes } from '../fixtures/scopes.fixture.js';

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

@Module({
  imports: [TokencapModule.forRoot({ scopes: fixtureScopes })],
  controllers: [DocumentedController],
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

  it('refuses a status that is not a success', () => {
    expect(() => ApiBudgetResponses({ status: 429 })).toThrow(
      'Invalid status 429 of @ApiBudgetResponses(): expected a 2xx status code.',
    );
  });
});
