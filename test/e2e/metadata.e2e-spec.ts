import { Global, Module, type ModuleMetadata } from '@nestjs/common';
import { DiscoveryModule, Reflector } from '@nestjs/core';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { BUDGET_METADATA } from '../../lib/nest/budget.decorator.js';
import { originalOf } from '../../lib/nest/budget-method.wrapper.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import {
  ABOVE,
  BELOW,
  MetaController,
  MetaService,
  ON_TICK,
  PassGuard,
  TickExplorer,
} from '../fixtures/metadata.fixture.js';

describe("other decorators' metadata", () => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  const start = () =>
    createTestApp({
      imports: [TokencapModule.forRoot(), DiscoveryModule],
      controllers: [MetaController],
      providers: [PassGuard, MetaService, TickExplorer],
    });

  it('keeps route path and method: a handler decorated before or after @Budget is routed', async () => {
    t = await start();
    const res = await request(t.app.getHttpServer()).post('/meta/items/42').expect(201);
    expect(res.body).toEqual({ id: '42', open: ['request'] });
  });

  it('keeps @UseGuards: the guard runs (before the interceptor) and can refuse', async () => {
    t = await start();
    await request(t.app.getHttpServer()).get('/meta/guarded').expect(403);
    const res = await request(t.app.getHttpServer())
      .get('/meta/guarded')
      .set('x-pass', 'yes')
      .expect(200);
    expect(res.body).toEqual({ open: ['request'] });
    expect(t.get(PassGuard).calls).toBe(2);
  });

  it('copies every metadata key onto a wrapped provider method', async () => {
    t = await start();
    const service = t.get(MetaService);
    const wrapped = MetaService.prototype.work;
    const original = originalOf(wrapped)!;
    expect(typeof original).toBe('function');
    expect(wrapped).not.toBe(original);
    expect(service.work).toBe(wrapped);
    const reflector = t.get(Reflector);
    expect(reflector.get(ABOVE, service.work)).toBe('set after @Budget');
    expect(reflector.get(BELOW, service.work)).toBe('set before @Budget');
    expect(reflector.get(ON_TICK, service.work)).toBe('work');
    expect(reflector.get(BUDGET_METADATA, service.work)).toEqual([
      { scope: 'task', limit: 100, options: {} },
    ]);
    // Every key set below @Budget (on the original), including @UseGuards' (whose key is Nest's own).
    const keys = Reflect.getMetadataKeys(original);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    for (const key of keys)
      expect(Reflect.getMetadata(key, service.work)).toBe(Reflect.getMetadata(key, original));
    expect(keys.map((k) => Reflect.getMetadata(k, original))).toContainEqual([PassGuard]);
    expect(Reflect.getMetadataKeys(service.work)).toEqual(
      expect.arrayContaining([...keys, ABOVE, ON_TICK, BUDGET_METADATA]),
    );
    // Parameter types live on the prototype, untouched.
    expect(Reflect.getMetadata('design:paramtypes', MetaService.prototype, 'work')).toEqual([
      String,
    ]);
    expect(await service.work('direct')).toEqual(['direct', 'task']);
  });

  it('lets another explorer find the method by its metadata and call it budgeted', async () => {
    t = await start();
    const tick = t.get(TickExplorer).handlers.get('work');
    expect(tick).toBeDefined();
    expect(await tick!()).toEqual(['tick:work', 'task']);
    expect(t.events).toEqual([]);
  });

  it('global modules collecting methods at startup get the budgeted method, in either import order', async () => {
    @Global()
    @Module({ imports: [DiscoveryModule], providers: [TickExplorer], exports: [TickExplorer] })
    class TickModule {}
    const tickWith = async (imports: ModuleMetadata['imports']) => {
      const app = await createTestApp({ imports, providers: [PassGuard, MetaService] });
      try {
        return await app.get(TickExplorer).handlers.get('work')!();
      } finally {
        await app.app.close();
      }
    };
    expect(await tickWith([TokencapModule.forRoot(), TickModule])).toEqual(['tick:work', 'task']);
    // Imported first, it collects the method before Tokencap has bound the instance: still budgeted.
    expect(await tickWith([TickModule, TokencapModule.forRoot()])).toEqual(['tick:work', 'task']);
  });
});
