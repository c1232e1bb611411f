// Loads the package in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core) from a page served on 127.0.0.1, runs
// page.js, reloads, and runs its second phase. Each in-page check is one
// subtest here.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { serve } from './server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const EXECUTABLE = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

test('the package in headless Chromium', { timeout: 120_000 }, async (t) => {
  const server = await serve(ROOT);
  const profile = await mkdtemp(join(tmpdir(), 'sotto-chromium-'));
  // A persistent context: Playwright passes `profile` as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: FLAGS,
  });
  t.after(async () => {
    await context.close();
    await server.close();
    await rm(profile, { recursive: true, force: true });
  });

  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });

  for (const phase of [1, 2]) {
    await page.goto(`${server.url}/tests/browser/page.html?phase=${phase}`);
    await page.waitForFunction(() => window.sottoResults, null, { timeout: 60_000 });
    const results = await page.evaluate(() => window.sottoResults);
    assert.ok(results.length > 0);
    for (const { name, ok, error } of results) {
      await t.test(`phase ${phase}: ${name}`, () => assert.ok(ok, error));
    }
  }
  assert.deepEqual(problems, []);
});
