import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transpile } from '../../scripts/transpile.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/**
 * `tokencap/engine` installed in a project that has no `@nestjs/*` (only the engine's own
 * dependencies: rxjs and gpt-tokenizer), as a worker or script would use it.
 */
describe('tokencap/engine in a project without Nest', () => {
  // Outside the repository, so resolution cannot climb to its node_modules.
  const project = join(tmpdir(), `tokencap-no-nest-${randomUUID().slice(0, 8)}`);

  beforeAll(async () => {
    const pkg = join(project, 'node_modules', 'tokencap');
    mkdirSync(pkg, { recursive: true });
    // The published layout: lib/<x>.ts → dist/<x>.js, with the real package.json's exports map.
    await transpile({ base: join(ROOT, 'lib'), dirs: ['.'], outDir: join(pkg, 'dist') });
    cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    for (const dep of ['rxjs', 'gpt-tokenizer', 'tslib']) {
      symlinkSync(join(ROOT, 'node_modules', dep), join(project, 'node_modules', dep), 'dir');
    }
    writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
  }, 60_000);

  afterAll(() => rmSync(project, { recursive: true, force: true }));

  async function node(script: string): Promise<string> {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: project,
    });
    return stdout.trim();
  }

  it('has no @nestjs package to load', async () => {
    const script = `import('tokencap').then(() => console.log('loaded'), (e) => console.log(e.code, e.message.split('\\n')[0]))`;
    expect(await node(script)).toMatch(/^ERR_MODULE_NOT_FOUND Cannot find package '@nestjs\//);
  });

  it('imports the engine and enforces a budget with it', async () => {
    const script = `
      import { BudgetExceededError, countTokens, defineBudget, Ledger, MemoryLedgerStore, runWithBudgets } from 'tokencap/engine';
      const ledger = new Ledger({ store: new MemoryLedgerStore() });
      const budget = defineBudget({ scope: 'job', key: 'nightly', limit: 100 });
      await ledger.charge([budget], { tokens: 60 });
      let second;
      try { await ledger.reserve([budget], { base: { tokens: 50 } }); second = 'reserved'; }
      catch (e) { second = e instanceof BudgetExceededError ? 'refused ' + e.dimension : String(e); }
      const within = await runWithBudgets(ledger, [budget], () => 'ran inside');
      const [usage] = await ledger.usage([budget]);
      console.log(JSON.stringify([second, within, usage.used, countTokens('hello world', 'gpt-4o')]));
      await ledger.close();
    `;
    expect(JSON.parse(await node(script))).toEqual(['refused tokens', 'ran inside', 60, 2]);
  });

  it("names the optional peer when the 'js-tiktoken' backend is chosen without it", async () => {
    const script = `
      import { TokenCounter, TokencapConfigError } from 'tokencap/engine';
      try { new TokenCounter({ backend: 'js-tiktoken' }).count('hi', 'gpt-4o'); console.log('counted'); }
      catch (e) { console.log(e instanceof TokencapConfigError, e.message); }
    `;
    expect(await node(script)).toBe(
      "true Tokenizer backend 'js-tiktoken' needs the optional peer dependency js-tiktoken: run `npm install js-tiktoken`, or use the default backend 'gpt-tokenizer'.",
    );
  });

  it('can be require()d from CommonJS (Node 20.19+, 22.12+, 24: require of an ES module)', async () => {
    const script = `
      const { defineBudget, Ledger, MemoryLedgerStore } = require('tokencap/engine');
      const budget = defineBudget({ scope: 'job', key: 'cjs', limit: 10 });
      const ledger = new Ledger({ store: new MemoryLedgerStore() });
      ledger.charge([budget], { tokens: 4 }).then(() => ledger.usage([budget])).then(([u]) => console.log(u.used, u.limit));
    `;
    const { stdout } = await run(process.execPath, ['--no-warnings', '-e', script], {
      cwd: project,
    });
    expect(stdout.trim()).toBe('4 10');
  });

  it('is the only way in: the package exports ./engine', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    expect(manifest.exports['./engine']).toEqual({
      types: './dist/engine/index.d.ts',
      default: './dist/engine/index.js',
    });
  });
});
