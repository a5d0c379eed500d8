import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { type SampleApp, startSample } from '../../../sample/bootstrap.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI === 'true')
    throw new Error(`CI=true but no Chromium at ${CHROMIUM}: install Debian's chromium.`);
  console.warn(`Skipping the sample showcase browser test: no Chromium at ${CHROMIUM}.`);
}
const SHOTS = 'test/e2e/__screenshots__';

interface Usage {
  used: number;
  limit: number;
  windowEnd: number;
  dimensions: { usd?: { used: number; limit: number } };
  lastRefusal: {
    at: number;
    requested: number;
    used: number;
    reserved: number;
    limit: number;
  } | null;
}
interface Budgets {
  session: Usage;
  user: Usage;
  research: { phase: string; turn: number; tokens: number }[];
}

const num = (n: number) => n.toLocaleString('en-US');
const usd = (n: number, digits = 4) =>
  `$${n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;

describe.skipIf(!available)('the sample page as a showcase, at 1280 and 375 px', () => {
  let browser: Browser;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  for (const width of [1280, 375]) {
    it(`shows every budget, the agent turn by turn, refusals per call and restores on reload at ${width} px`, async () => {
      const sample: SampleApp = await startSample({ port: 0, quiet: true, fake: true });
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page: Page = await context.newPage();
      try {
        const budgets = (): Promise<Budgets> =>
          page.evaluate(
            `fetch('/api/budgets', { headers: { 'x-session-id': sessionStorage.getItem('tokencap-session'), 'x-user-id': 'demo-user' } }).then((r) => r.json())`,
          );
        const noOverflow = async () =>
          expect(
            await page.evaluate(
              'document.documentElement.scrollWidth - document.documentElement.clientWidth',
            ),
          ).toBe(0);
        const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';

        await page.goto(sample.url);
        await page.locator('body[data-restored="true"]').waitFor();
        // Every open budget, with its limit, in one number format, and its reset time.
        expect(await text('#budget-session .label')).toBe(
          '0 tokens of 50,000 tokens (0 %) · $0.0000 of $1.50',
        );
        expect(await text('#budget-user .label')).toBe('$0.0000 of $0.25 (0 %)');
        expect(await text('#budget-session .reset')).toBe('Resets at 00:00 UTC');
        expect(await text('#budget-user .reset')).toBe('Resets at 00:00 UTC');
        expect(await text('#budget-session .forecast')).toBe('Forecast: too early to tell');
        expect(await text('#budget-task .label')).toBe('No run yet');
        await noOverflow();
        await page.screenshot({ path: `${SHOTS}/sample-${width}-start.png`, fullPage: true });

        // Research runs until the session budget refuses one (a 429, inline on that run).
        const fake = sample.fakeAnthropic!;
        let refusedRun = -1;
        for (let run = 0; run < 5 && refusedRun < 0; run++) {
          const requestsBefore = fake.tally.requests;
          const messages = await page.locator('#log .msg').count();
          // The buttons are off while the call runs: read in the click's own task, since a
          // refused run can answer before a second round trip to the browser would look.
          const disabled = await page.evaluate(
            `(() => { const b = (id) => document.querySelector(id); b('#research').click(); return [b('#send').disabled, b('#research').disabled]; })()`,
          );
          expect(disabled).toEqual([true, true]);
          await page.waitForFunction(
            `document.querySelectorAll('#log .msg').length > ${messages + 1} || document.querySelectorAll('#log .refusal').length > 0`,
          );
          await page.locator('#send:enabled').waitFor();
          const turns = await page.locator('#agent .turn[data-phase="turn"]').allTextContents();
          // One line per answered model call, each with the run's tokens so far, growing.
          expect(turns).toHaveLength(fake.tally.requests - requestsBefore);
          const so = turns.map((t, i) => {
            const m = /^Turn ([\d,]+): ([\d,]+) tokens so far$/.exec(t);
            expect(m, t).not.toBeNull();
            expect(m![1]).toBe(num(i + 1));
            return Number(m![2].replaceAll(',', ''));
          });
          expect(so).toEqual([...so].sort((a, b) => a - b));
          const last = await text('#agent .turn:last-child');
          if ((await page.locator('#log .refusal').count()) > 0) {
            refusedRun = run;
            expect(last).toMatch(/^Stopped: refused by the session budget after \d+ turns/);
          } else {
            expect(last).toBe(
              `Stopped: halted by its 21,000-token task budget after ${num(turns.length)} turns (${num(so.at(-1)!)} tokens)`,
            );
            expect(await text('#budget-task .label')).toBe(
              `${num(so.at(-1)!)} of 21,000 tokens (${((100 * so.at(-1)!) / 21_000).toFixed(0)} %) · ${num(turns.length)} turns`,
            );
            if (run === 0)
              await page.screenshot({
                path: `${SHOTS}/sample-${width}-research.png`,
                fullPage: true,
              });
          }
          expect(await text('#headers')).toMatch(
            new RegExp(`^Last call: POST /api/research → HTTP ${refusedRun < 0 ? 200 : 429}\\. `),
          );
        }
        expect(refusedRun).toBeGreaterThan(0);
        // The refusal sits on the run it refused, right after its line, and nowhere else.
        expect(await page.locator('#log .refusal').count()).toBe(1);
        const refusedAfter = await page
          .locator('#log .refusal')
          .evaluate((el) => el.previousElementSibling?.textContent);
        expect(refusedAfter).toBe('Research agent started…');
        expect(await text('#log .refusal')).toMatch(
          /^Refused \(HTTP 429, session budget\): [\d,]+ of 50,000 used; the call was not sent to the model\.$/,
        );
        const headerLines = await page.locator('#headers code.header').allTextContents();
        expect(
          headerLines.length === 0
            ? (await text('#headers')).endsWith('No RateLimit headers on this response.')
            : headerLines.every((h) => /^(x-)?ratelimit|^retry-after/i.test(h)),
        ).toBe(true);
        await noOverflow();
        await page.screenshot({ path: `${SHOTS}/sample-${width}-refused.png`, fullPage: true });

        // A chat after the refused run is shown as a chat, not as a refusal.
        const llmBefore = sample.fake!.tally.requests;
        const bots = await page.locator('#log .msg.bot').count();
        await page.locator('#message').fill('What did the agent find?');
        await page.locator('#send').click();
        await page.waitForFunction(
          `document.querySelectorAll('#log .msg.bot').length > ${bots} || document.querySelectorAll('#log .refusal').length > 1`,
        );
        expect(await page.locator('#log .refusal').count()).toBe(1);
        expect(sample.fake!.tally.requests).toBe(llmBefore + 1);
        expect(await text('#log .msg.bot:last-child')).toMatch(/^Assistant: \S+ \S+/);
        await page.locator('#send:enabled').waitFor();

        // Reload: every budget comes back from the server, with why the session stands where it does.
        const steps = await page.locator('#agent .turn').count();
        await page.reload();
        await page.locator('body[data-restored="true"]').waitFor();
        const all = await budgets();
        const s = all.session;
        expect(s.lastRefusal).not.toBeNull();
        expect(await text('#budget-session .label')).toBe(
          `${num(s.used)} tokens of 50,000 tokens (${((100 * s.used) / 50_000).toFixed(0)} %) · ${usd(s.dimensions.usd!.used)} of $1.50`,
        );
        const r = s.lastRefusal!;
        expect(await text('#budget-session .why')).toBe(
          `Refused at ${new Date(r.at).toISOString().slice(11, 16)} UTC: a call needed ${num(r.requested)} tokens, ` +
            `${num(Math.max(0, r.limit - r.used - r.reserved))} tokens of 50,000 tokens remained.`,
        );
        const u = all.user;
        expect(await text('#budget-user .label')).toBe(
          `${usd(u.used)} of $0.25 (${((100 * u.used) / 0.25).toFixed(0)} %)`,
        );
        expect(u.used).toBeGreaterThan(0);
        expect(await page.locator('#agent .turn').count()).toBe(steps);
        expect(all.research.at(-1)!.phase).toBe('failed');
        expect(await page.locator('#log .msg').count()).toBe(0);
        await noOverflow();
        await page.screenshot({ path: `${SHOTS}/sample-${width}-reloaded.png`, fullPage: true });
      } finally {
        await context.close();
        await sample.close();
      }
    }, 180_000);
  }
});
