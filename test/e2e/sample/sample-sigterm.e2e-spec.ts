import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openStream } from '../../fixtures/http-client.fixture.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** `npm start` as package.json runs it, into a folder of the test's own. */
describe('the sample process started as `npm start` does', () => {
  const outDir = join(ROOT, '.tmp', `sample-${randomUUID().slice(0, 8)}`);
  const children: ChildProcess[] = [];

  afterAll(() => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(outDir, { recursive: true, force: true });
  });

  function start(port: string) {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: port, HOST: '127.0.0.1' };
    env.SAMPLE_OUT_DIR = outDir;
    delete env.OPENAI_API_KEY;
    delete env.ANTHROPIC_API_KEY;
    const child = spawn(process.execPath, [join(ROOT, 'scripts/start-sample.mjs')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null; output: string }>(
      (resolve) => child.once('exit', (code, signal) => resolve({ code, signal, output })),
    );
    const listening = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', () => {
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      void exited.then(() => reject(new Error(`sample exited early:\n${output}`)));
    });
    // A start expected to fail is never awaited for listening.
    listening.catch(() => undefined);
    return { child, listening, exited };
  }

  it('listens, refuses a second start on the same port with a PORT hint, and exits on SIGTERM while a browser holds its event stream open', async () => {
    const first = start('0');
    const url = await first.listening;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const second = start(new URL(url).port);
    const refused = await second.exited;
    expect(refused.code).toBe(1);
    const port = Number(new URL(url).port);
    expect(refused.output).toContain(
      `Port ${port} is already in use (another \`npm start\`?). Start on another port: PORT=${port + 1} npm start`,
    );
    expect(refused.output).not.toContain('EADDRINUSE');

    // The page's own event stream, held open as an open tab does.
    const events = await openStream(new URL('/api/events?session=tab-1', url).href);
    expect(events.status).toBe(200);

    first.child.kill('SIGTERM');
    const outcome = await Promise.race([
      first.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 10_000)),
    ]);
    // Nest's shutdown hook closes the app, then re-raises the signal so the process ends by it.
    expect(outcome).not.toBe('still running');
    const { code, signal } = outcome as { code: number | null; signal: string | null };
    expect([
      { code: 0, signal: null },
      { code: null, signal: 'SIGTERM' },
    ]).toContainEqual({ code, signal });
    await events.ended;
  }, 60_000);
});
