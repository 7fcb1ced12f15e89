/**
 * Shared by the browser tests: where chromium and the screenshots are, a fresh page that records
 * CSP violations and script errors, and form submission that waits for the page it leads to.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';

const root = new URL('../..', import.meta.url).pathname;
export const ARTIFACTS = join(root, 'tests', 'artifacts', 'browser');
export const CHROMIUM = process.env.ZV_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

/** A fresh browser profile (de-DE, Berlin time) whose console errors and script errors land in `problems`. */
export async function newContext(browser: Browser, problems: string[]): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale: 'de-DE', timezoneId: 'Europe/Berlin', viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  // Errors from our scripts carry a frame of /static/…; Chromium's built-in PDF viewer in the
  // preview iframe occasionally reports an internal "Assertion failed" without one, which is not ours.
  page.on('pageerror', (e) => {
    if (/\/static\/[\w.-]+\.js/.test(e.stack ?? '') || !/^Assertion failed$/.test(e.message)) problems.push(`script error on ${page.url()}: ${e.message} ${e.stack ?? ''}`);
  });
  return { context, page };
}

/** Submits a form and waits for the page it leads to (a bare waitForLoadState could see the old page). */
export async function submit(page: Page, act: () => Promise<void>): Promise<void> {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), act()]);
}
