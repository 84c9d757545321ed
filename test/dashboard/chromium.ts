/**
 * Headless Chromium for the dashboard tests: Debian's /usr/bin/chromium through playwright-core (npx playwright's
 * own browser download does not work here). Script errors and CSP violations are collected in `problems`, which a
 * suite asserts empty at its end; WebSocket URLs in `socketUrls`.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts');

export interface DashboardBrowser {
  context: BrowserContext;
  page: Page;
  problems: string[];
  socketUrls: string[];
  close(): Promise<void>;
}

export async function launchDashboardBrowser(): Promise<DashboardBrowser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}; the dashboard test needs a real browser. Install Debian's package: ` +
        '`sudo apt-get install -y chromium` (.ci/run does this; npx playwright install does not work here).',
    );
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'gradloom-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1200, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  // A click or navigation that cannot happen fails within 15 s naming its selector, instead of running into the
  // test's own timeout with no word on which step stalled.
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  const socketUrls: string[] = [];
  page.on('websocket', (ws) => socketUrls.push(ws.url()));
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // The API's 4xx answers (401 before the key, 400 for invalid input, 404/409 on purpose) are expected and logged by the browser.
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  return {
    context,
    page,
    problems,
    socketUrls,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
