import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStream } from '../../fixtures/http-client.fixture.js';
import { buildSample, ROOT } from './support/build-sample.js';

describe('the sample process', () => {
  const outDir = join(ROOT, '.tmp', `sample-${randomUUID().slice(0, 8)}`);
  let entry: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    entry = await buildSample(outDir);
  }, 60_000);

  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(outDir, { recursive: true, force: true });
  });

  it('exits on SIGTERM while a browser holds its event stream open', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1' };
    delete env.OPENAI_API_KEY;
    child = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]);
      });
      child!.once('exit', () => reject(new Error(`sample exited early:\n${output}`)));
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child!.once('exit', (code, signal) => resolve({ code, signal })),
    );

    // The page's own event stream, held open as an open tab does.
    const events = await openStream(new URL('/api/events?session=tab-1', url).href);
    expect(events.status).toBe(200);

    child.kill('SIGTERM');
    const outcome = await Promise.race([
      exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 10_000)),
    ]);
    // Nest's shutdown hook closes the app, then re-raises the signal so the process ends by it.
    expect([
      { code: 0, signal: null },
      { code: null, signal: 'SIGTERM' },
    ]).toContainEqual(outcome);
    await events.ended;
  }, 30_000);
});
