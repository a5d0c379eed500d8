import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === 'true') {
  throw new Error(`CI=true but no Chromium at ${CHROMIUM}: install Debian's chromium.`);
}
const run = promisify(execFile);
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.svg': 'image/svg+xml',
};

/** The site `npm run docs:build` writes (CI builds it first); built here when absent. */
async function builtSite(): Promise<string> {
  const site = join(ROOT, 'site');
  const built = join(site, 'index.html');
  const sources = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)];
  const fresh =
    existsSync(built) &&
    sources.every((f) => statSync(join(ROOT, f)).mtimeMs <= statSync(built).mtimeMs);
  if (fresh) return site;
  const out = join(ROOT, '.tmp', 'site');
  await run(process.execPath, [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out], {
    cwd: ROOT,
  });
  return out;
}

function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('the link checker of `npm run docs:build`', () => {
  it('fails on a missing page and on a missing anchor, naming each', async () => {
    const dir = join(ROOT, '.tmp', `links-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.html'), '<h1 id="top">A</h1><a href="b.html#there">b</a>');
    writeFileSync(
      join(dir, 'b.html'),
      '<p id="here"></p><a href="a.html#top">ok</a><a href="gone.html">x</a><a href="a.html#nowhere">y</a>',
    );
    const failure = await run(process.execPath, [join(ROOT, 'scripts/check-site-links.mjs'), dir])
      .then(() => undefined)
      .catch((error: { code: number; stderr: string }) => error);
    expect(failure?.code).toBe(1);
    expect(
      failure?.stderr
        .split('\n')
        .slice(1)
        .map((l) => l.trim())
        .filter(Boolean)
        .sort(),
    ).toEqual([
      'a.html: b.html#there (no element with id "there")',
      'b.html: a.html#nowhere (no element with id "nowhere")',
      'b.html: gone.html (no such file)',
    ]);
  });
});

describe.skipIf(!available)('the docs site in headless Chromium', () => {
  let server: Server;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    server = await serve(await builtSite());
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('opens on the README and reaches every topic page and the API reference through its navigation', async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    page.on('pageerror', (e) => failed.push(`page error: ${e.message}`));
    await page.goto(base);
    expect(await page.locator('h1').first().textContent()).toContain('Tokencap');

    // The README's map of the docs: each entry opens its page, whose title is its first heading.
    const topics = await page
      .locator('.tsd-panel.tsd-typography a[href^="documents/"]:not([href*="#"])')
      .evaluateAll((links) => [...new Set(links.map((a) => a.getAttribute('href')!))]);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const pages = [...readme.matchAll(/\(docs\/([\w-]+)\.md[#)]/g)].map((m) => m[1]);
    expect(topics.sort()).toEqual([...new Set(pages)].map((p) => `documents/${p}.html`).sort());
    for (const href of topics) {
      await page.goto(base);
      await page.locator(`.tsd-panel.tsd-typography a[href="${href}"]`).first().click();
      await page.waitForURL(`**/${href}`);
      const source = href.replace(/^documents\//, 'docs/').replace(/\.html$/, '.md');
      const title = /^# (.+)$/m.exec(readFileSync(join(ROOT, source), 'utf8'))![1]!;
      await expect
        .poll(() => page.locator('.tsd-typography h1').first().textContent())
        .toBe(title.replace(/`/g, ''));
    }

    // The API reference: the root entry's page lists what a Nest app uses.
    await page.goto(new URL('modules.html', base).href);
    await page
      .locator('a', { hasText: /^index$/ })
      .first()
      .click();
    await expect.poll(() => page.locator('body').textContent()).toContain('TokencapModule');
    expect(failed).toEqual([]);
    await page.close();
  }, 120_000);
});
