import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, typeErrors } from '../support/type-check.js';

/**
 * A CommonJS TypeScript app (`module: nodenext`, as docs/recipes.md sets it up) compiled against
 * the published `.d.ts`: there `import OpenAI from 'openai'` is the SDK's CommonJS typing, a class
 * other than the ES-module one Tokencap's declarations see, so the wrappers must take the client
 * by its shape and hand back the caller's own type.
 */
describe('the declarations, from a CommonJS TypeScript project', () => {
  // Inside the repository, so `openai`, `@nestjs/*` and the rest resolve from its node_modules.
  const project = join(ROOT, '.tmp', `cjs-typings-${process.pid}`);
  const pkg = join(project, 'node_modules', 'tokencap');

  beforeAll(() => {
    mkdirSync(pkg, { recursive: true });
    // The published layout: lib/<x>.ts → dist/<x>.d.ts, with the real package.json's exports map.
    const config = ts.getParsedCommandLineOfConfigFile(
      join(ROOT, 'tsconfig.build.json'),
      {},
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
    )!;
    const emitted = ts
      .createProgram(config.fileNames, {
        ...config.options,
        outDir: join(pkg, 'dist'),
        emitDeclarationOnly: true,
        declaration: true,
        sourceMap: false,
      })
      .emit();
    expect(emitted.diagnostics).toEqual([]);
    cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    writeFileSync(join(project, 'package.json'), '{ "type": "commonjs" }\n');
  }, 120_000);

  afterAll(() => rmSync(project, { recursive: true, force: true }));

  const diagnosticsOf = (files: Record<string, string>) =>
    typeErrors(project, Object.entries(files));

  it('wraps the CommonJS OpenAI and Anthropic clients, keeping their own types', () => {
    expect(
      diagnosticsOf({
        'clients.ts': `
          import Anthropic from '@anthropic-ai/sdk';
          import OpenAI, { AzureOpenAI } from 'openai';
          import { wrapOpenAI } from 'tokencap';
          import { wrapAnthropic } from 'tokencap/anthropic';

          export const openai: OpenAI = wrapOpenAI(new OpenAI());
          export const azure: AzureOpenAI = wrapOpenAI(new AzureOpenAI({ apiVersion: 'v' }));
          export const anthropic: Anthropic = wrapAnthropic(new Anthropic(), { counting: 'api' });
          // The wrapped client is the caller's own type: its methods keep their overloads.
          export const reply = openai.chat.completions.create({ model: 'gpt-4o', messages: [] });
          export const text: Promise<string | null> = reply.then((r) => r.choices[0]!.message.content);
        `,
      }),
    ).toEqual([]);
  }, 60_000);

  it('still refuses a client of the other provider', () => {
    const diagnostics = diagnosticsOf({
      'mixed.ts': `
        import Anthropic from '@anthropic-ai/sdk';
        import OpenAI from 'openai';
        import { wrapOpenAI } from 'tokencap';
        import { wrapAnthropic } from 'tokencap/anthropic';

        wrapOpenAI(new Anthropic());
        wrapAnthropic(new OpenAI());
      `,
    });
    expect(diagnostics).toHaveLength(2);
    expect(diagnostics.every((d) => d.startsWith('/mixed.ts: Argument of type'))).toBe(true);
  }, 60_000);
});
