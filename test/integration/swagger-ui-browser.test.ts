/**
 * Swagger UI in a real Chromium (Debian's, driven by playwright-core): the page renders the API document offline,
 * every operation listed, and a request made from it reaches the server. Screenshots go to test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
let t: TestServer;
let browser: Browser;
beforeAll(async () => {
  t = await startTestServer();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  mkdirSync(ARTIFACTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await t.close();
});

describe('Swagger UI', () => {
  it('shows every operation of the document, loading nothing from outside the server, and tries one out', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const elsewhere: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(t.httpUrl) && !request.url().startsWith('data:')) elsewhere.push(request.url());
    });
    await page.goto(`${t.httpUrl}/swagger-ui/`);
    await page.getByText('iot-rpc', { exact: false }).first().waitFor();
    const doc = (await (await fetch(`${t.httpUrl}/api/openapi.json`)).json()) as { paths: Record<string, object> };
    const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    await expect.poll(() => page.locator('.opblock').count()).toBe(operations);
    await page.screenshot({ path: `${ARTIFACTS}swagger-ui.png`, fullPage: false });
    // Try out GET /livez from the page.
    const livez = page.locator('.opblock', { has: page.locator('[data-path="/livez"]') }).first();
    await livez.locator('.opblock-summary').click();
    await livez.getByRole('button', { name: 'Try it out' }).click();
    await livez.getByRole('button', { name: 'Execute' }).click();
    await expect.poll(() => livez.locator('.live-responses-table tbody .response-col_status').first().textContent()).toContain('200');
    await page.screenshot({ path: `${ARTIFACTS}swagger-ui-try-livez.png`, fullPage: false });
    expect(elsewhere).toEqual([]);
    await page.close();
  });
});
