import type { IncomingMessage } from 'node:http';
import type { ExecutionContext } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { LlmProvider } from '../fixtures/fake-llm.fixture.js';
import { ADAPTERS, listenOn, type ListeningApp, send } from '../fixtures/http-adapters.fixture.js';
import { httpSurfaceModule } from '../fixtures/http-surface.fixture.js';
import { SESSION_HEADER, USER_HEADER } from '../fixtures/scopes.fixture.js';

const isAdmin = (context: ExecutionContext) =>
  context.switchToHttp().getRequest<IncomingMessage>().headers['x-admin'] === 'yes';

describe.each(ADAPTERS)('skipping budgets on %s', (adapter) => {
  let t: ListeningApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  const post = (path: string, tokens: number, headers: Record<string, string> = {}) =>
    send(`${t!.url}${path}`, 'POST', { tokens }, { [SESSION_HEADER]: 's', ...headers });

  it('@SkipBudget() on a handler drops its own budget, not those of the service it calls', async () => {
    t = await listenOn(adapter, { imports: [httpSurfaceModule()] });
    const provider = t.app.get(LlmProvider);
    for (let i = 0; i < 2; i++) {
      // 400 tokens, far past the handler's 10-token session budget.
      const res = await post('/skip/handler', 400, { [USER_HEADER]: 'u' });
      expect(res.status).toBe(201);
      expect(res.body.inner).toEqual(['user:u', expect.stringMatching(/^task:/)]);
      expect(res.headers.ratelimit).toBeUndefined();
      expect(res.headers['ratelimit-policy']).toBeUndefined();
    }
    // The service's 1000-token user budget still refuses.
    const refused = await post('/skip/handler', 400, { [USER_HEADER]: 'u' });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ scope: 'user', limit: 1000, used: 800 });
    expect(provider.calls).toBe(2);
  });

  it('@SkipBudget() on a controller skips every handler but the one marked @SkipBudget(false)', async () => {
    t = await listenOn(adapter, { imports: [httpSurfaceModule()] });
    const provider = t.app.get(LlmProvider);
    const skipped = await post('/skip-class/skipped', 150);
    expect(skipped.status).toBe(201);
    expect(skipped.body).toEqual({ open: [] });
    expect(skipped.headers.ratelimit).toBeUndefined();
    const kept = await post('/skip-class/kept', 150);
    expect(kept.status).toBe(429);
    expect(kept.body).toMatchObject({ scope: 'session', limit: 100, used: 0 });
    expect(provider.calls).toBe(0);
    const fits = await post('/skip-class/kept', 60);
    expect(fits.status).toBe(201);
    expect(fits.headers.ratelimit).toBe('"session";r=40');
  });

  it('skipIf(context) skips the handlers it returns true for', async () => {
    t = await listenOn(adapter, { imports: [httpSurfaceModule({ skipIf: isAdmin })] });
    const provider = t.app.get(LlmProvider);
    const admin = await post('/skip/maybe', 50, { [USER_HEADER]: 'a', 'x-admin': 'yes' });
    expect(admin.status).toBe(201);
    expect(admin.headers.ratelimit).toBeUndefined();
    expect(provider.calls).toBe(1);
    const user = await post('/skip/maybe', 50, { [USER_HEADER]: 'b' });
    expect(user.status).toBe(429);
    expect(user.body).toMatchObject({ scope: 'session', limit: 10, used: 0 });
    expect(user.headers.ratelimit).toBe('"session";r=10');
    expect(provider.calls).toBe(1);
  });

  it('a skipIf that returns no boolean fails the request and calls nothing (fail closed)', async () => {
    const skipIf = (() => 'yes') as unknown as (context: ExecutionContext) => boolean;
    t = await listenOn(adapter, { imports: [httpSurfaceModule({ skipIf })] });
    const res = await post('/skip/maybe', 5, { [USER_HEADER]: 'c' });
    expect(res.status).toBe(500);
    expect(t.app.get(LlmProvider).calls).toBe(0);
  });
});
