import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { type SampleApp, startSample } from '../../../sample/bootstrap.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI === 'true')
    throw new Error(`CI=true but no Chromium at ${CHROMIUM}: install Debian's chromium.`);
  console.warn(
    `Skipping the sample page browser test: no Chromium at ${CHROMIUM} (apt-get install chromium).`,
  );
}

describe.skipIf(!available)('sample page in headless Chromium', () => {
  let sample: SampleApp;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    sample = await startSample({ port: 0, quiet: true, fake: true });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await sample?.close();
  });

  const level = () => page.locator('#meter').getAttribute('data-level');
  const percent = async () => Number(await page.locator('#meter').getAttribute('aria-valuenow'));

  async function chatUntil(predicate: () => Promise<boolean>, max: number): Promise<number> {
    for (let sent = 0; sent < max; sent++) {
      if (await predicate()) return sent;
      const before = await page.locator('.msg').count();
      await page.locator('#message').fill(`question ${sent}`);
      await page.locator('#send').click();
      // A turn is done when its reply (or the refusal) is on the page.
      // Runs in the page, so it is passed as source: the test's own types have no DOM.
      await page.waitForFunction(
        `document.querySelectorAll('.msg').length >= ${before + 2} || ` +
          `document.querySelector('#refusal')?.getAttribute('data-shown') === 'true'`,
      );
    }
    throw new Error(`condition not reached after ${max} messages`);
  }

  it('turns the meter amber at 80 %, red at 90 %, and shows the refusal at 100 %', async () => {
    await page.goto(sample.url);
    await expect.poll(level).toBe('ok');

    // Two runaway research runs (a LangChain agent on Claude): each is halted by its own
    // 21,000-token task budget, after as many search turns as the fake Anthropic API answered.
    for (let run = 1; run <= 2; run++) {
      const turnsBefore = sample.fakeAnthropic!.tally.requests;
      const before = await page.locator('.msg.bot').count();
      await page.locator('#research').click();
      await page.locator('.msg.bot').nth(before).waitFor();
      expect(await page.locator('.msg.bot').nth(before).textContent()).toMatch(
        /^Agent ran (\d+) turns, \d{5} tokens: halted by its 21,000-token task budget after \1 turns$/,
      );
      const text = (await page.locator('.msg.bot').nth(before).textContent()) ?? '';
      expect(Number(/^Agent ran (\d+)/.exec(text)![1])).toBe(
        sample.fakeAnthropic!.tally.requests - turnsBefore,
      );
    }
    expect(await level()).toBe('ok');
    await chatUntil(async () => (await level()) === 'amber', 60);
    expect(await percent()).toBeGreaterThanOrEqual(80);
    expect(await percent()).toBeLessThan(90);

    await chatUntil(async () => (await level()) === 'red', 60);
    expect(await percent()).toBeGreaterThanOrEqual(90);
    const warnings = () => page.locator('.msg.event').allTextContents();
    await expect
      .poll(warnings)
      .toEqual([
        'Warning: 80 % of the session budget used',
        'Warning: 90 % of the session budget used',
      ]);

    const llmCallsBefore = sample.fake!.tally.requests;
    const messages = await chatUntil(
      async () => (await page.locator('#refusal').getAttribute('data-shown')) === 'true',
      60,
    );
    expect(messages).toBeGreaterThan(0);
    expect(await page.locator('#refusal').textContent()).toMatch(
      /^Refused \(HTTP 429 Budget Exceeded\): Budget "session" exceeded: the call needs \d+ tokens, \d+ of 50000 tokens remain\.$/,
    );
    await expect
      .poll(warnings)
      .toEqual([
        'Warning: 80 % of the session budget used',
        'Warning: 90 % of the session budget used',
        'Refused: the session budget refused a call',
      ]);
    expect(await level()).toBe('refused');
    // The refused call never reached the provider: exactly one request fewer than messages sent.
    expect(sample.fake!.tally.requests - llmCallsBefore).toBe(messages - 1);
    const usage: {
      used: number;
      dimensions: { usd: { used: number } };
      windowEnd: number;
      burnRate: number | null;
      projectedExhaustion: number | null;
    } = await page.evaluate(
      // The page renders this very reading (with its own showUsage), so both see one moment.
      `fetch('/api/usage', { headers: { 'x-session-id': sessionStorage.getItem('tokencap-session') } })` +
        `.then((r) => r.json()).then((u) => { showUsage(u); return u; })`,
    );
    expect(usage.used).toBeLessThanOrEqual(50_000);
    // The chat ran on OpenAI, the research agent on Claude: the session holds both bills.
    const claude = sample.fakeAnthropic!.tally;
    const claudeBilled =
      claude.inputTokens +
      claude.cacheReadInputTokens +
      claude.cacheCreationInputTokens +
      claude.outputTokens;
    expect(usage.used).toBe(sample.fake!.tally.totalTokens + claudeBilled);
    // The meter also shows what the session cost, priced from the shipped gpt-4o-mini rates.
    expect(await page.locator('#meter-label').textContent()).toBe(
      `${usage.used.toLocaleString('en')} / 50,000 tokens (100 %) · $${usage.dimensions.usd.used.toFixed(4)} of $1.50`,
    );
    expect(usage.dimensions.usd.used).toBeGreaterThan(0);
    // The daily window ends at the next midnight UTC, and the page shows it with the forecast.
    expect(usage.windowEnd % 86_400_000).toBe(0);
    expect(usage.windowEnd - Date.now()).toBeGreaterThan(0);
    expect(usage.windowEnd - Date.now()).toBeLessThanOrEqual(86_400_000);
    // A rate needs a minute of calls behind it; with one, the projection lies within the window
    // (the session ran out), unless it is already spent.
    if (usage.burnRate === null) expect(usage.projectedExhaustion).toBeNull();
    else expect(usage.projectedExhaustion ?? 0).toBeLessThan(usage.windowEnd);
    const outlook = page.locator('#outlook');
    expect(await outlook.getAttribute('data-window-end')).toBe(String(usage.windowEnd));
    expect(await outlook.getAttribute('data-projected-exhaustion')).toBe(
      String(usage.projectedExhaustion ?? ''),
    );
    expect(await outlook.textContent()).toMatch(
      usage.burnRate === null
        ? /^Resets at 00:00 UTC · forecast: too early to tell$/
        : /^Resets at 00:00 UTC · forecast: (spent|runs out at \d\d:\d\d UTC) at \d+\.\d tokens\/s$/,
    );

    mkdirSync('test/e2e/__screenshots__', { recursive: true });
    await page.screenshot({ path: 'test/e2e/__screenshots__/sample-refused.png', fullPage: true });
  }, 120_000);
});
