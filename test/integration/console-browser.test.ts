/**
 * The web console in a real Chromium (playwright-core, Debian's chromium) against a real server and a simulated
 * gpio device (the simulator, over MQTT): log in, live device list, toggle a pin and see the device's own state
 * change, the terminal's reply and its offline message, a customer user's limits. Screenshots of each view at
 * 1280×800 and 390×844 go to test-artifacts/; page weight and timings are printed.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceSimulator } from '../../src/simulator/index.js';
import { USERS, startTestServer, testConfig, type TestServer } from '../support/server.js';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;
let t: TestServer;
let browser: Browser;
let simulator: DeviceSimulator;
/** An application's own page, on another origin: the widgets' module and a device, nothing else. */
let appPage: Server;
let appOrigin: string;
beforeAll(async () => {
  appPage = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(req.url === '/led' ? ledPage : embeddingPage));
  await new Promise<void>((resolve) => appPage.listen(0, '127.0.0.1', resolve));
  appOrigin = `http://127.0.0.1:${(appPage.address() as AddressInfo).port}`;
  t = await startTestServer({
    devices: [
      ...(testConfig().devices ?? []),
      { id: 'panel', name: 'GPIO Panel', type: 'gpio', tenantId: 'tenant-a', customerId: 'customer-a', accessToken: 'sim-ui-0' },
      { id: 'later', name: 'Later Device', type: 'gpio', tenantId: 'tenant-a', accessToken: 'sim-later-0' },
      { id: 'lamp', name: 'Lamp', type: 'gpio', tenantId: 'tenant-a', accessToken: 'sim-lamp-0' },
      // Enough devices for a second page of the list (20 a page).
      ...Array.from({ length: 20 }, (_, i) => ({ id: `spare-${i}`, name: `Spare ${String(i).padStart(2, '0')}`, tenantId: 'tenant-a', accessToken: `SPARE_${i}` })),
    ],
    cors: { origins: [appOrigin] },
  } as never);
  simulator = new DeviceSimulator({ server: `127.0.0.1:${t.mqttPort}`, transport: 'mqtt', devices: 1, tokenPrefix: 'sim-ui-', profile: 'gpio' });
  await simulator.start();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  mkdirSync(ARTIFACTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await simulator?.stop();
  await t.close();
  await new Promise((resolve) => appPage.close(resolve));
});

/** A page of the application's with an LED indicator that asks again every second. */
let ledPage = '';
const ledHtml = (server: string, token: string) => `<!doctype html>
<html><head><meta charset="utf-8"><script type="module" src="${server}/console/widgets.js"></script></head>
<body><iot-rpc-led server="${server}" device="lamp" token="${token}" retry-seconds="1" timeout="1000"></iot-rpc-led></body></html>`;

/** The README's example, as an application would write it (server, device and token filled in by the test). */
let embeddingPage = '';
const embeddingHtml = (server: string, token: string) => `<!doctype html>
<html>
<head><meta charset="utf-8"><title>My plant</title>
<script type="module" src="${server}/console/widgets.js"></script></head>
<body>
<h1>Pump room</h1>
<iot-rpc-gpio server="${server}" device="panel" token="${token}"></iot-rpc-gpio>
</body>
</html>`;

async function logIn(page: Page, user: { email: string; password: string }): Promise<void> {
  await page.goto(`${t.httpUrl}/`);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('iot-rpc-devices tr[data-device]').first().waitFor();
}

/** A page in a fresh browser context of `viewport`, logged in as `user` when given. */
async function openPage(viewport: { width: number; height: number }, user?: { email: string; password: string }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  if (user !== undefined) await logIn(page, user);
  return { context, page };
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}console-${name}.png`, fullPage: true });

describe('web console', () => {
  it('logs in, lists devices with their live state, toggles a pin on the device and shows the terminal\'s replies', async () => {
    const { context, page } = await openPage(SIZES.desktop);
    const consoleFiles: Array<Promise<number>> = [];
    page.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      if (path === '/' || path.startsWith('/console/')) consoleFiles.push(response.request().sizes().then((sizes) => sizes.responseBodySize + sizes.responseHeadersSize));
    });
    const started = performance.now();
    await page.goto(`${t.httpUrl}/`);
    await page.getByLabel('Email').waitFor();
    const interactiveMs = performance.now() - started;
    await shot(page, 'login-desktop');
    await page.setViewportSize(SIZES.phone);
    await shot(page, 'login-phone');
    await page.setViewportSize(SIZES.desktop);
    await page.getByLabel('Email').fill(USERS.tenant.email);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Authentication failed|Invalid/i);
    await page.getByLabel('Password').fill(USERS.tenant.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    const panelRow = page.locator('tr[data-device="panel"]');
    await expect.poll(() => panelRow.locator('.badge').getAttribute('data-state')).toBe('subscribed');
    // Its transport and since when, from the subscription's first answer.
    await expect.poll(() => panelRow.locator('td').nth(3).textContent()).toBe('mqtt');
    expect(await panelRow.locator('td').nth(2).textContent()).toMatch(/since \d/);
    await expect.poll(() => page.locator('tr[data-device="dev-plain"] .badge').getAttribute('data-state')).toBe('offline');
    await shot(page, 'devices-desktop');
    // Pages of 20: the next one holds the rest.
    await expect.poll(() => page.locator('iot-rpc-devices .muted').first().textContent()).toBe('page 1 of 2');
    await page.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => page.locator('tr[data-device]').count()).toBe(6);
    await page.getByRole('button', { name: 'Previous' }).click();
    await expect.poll(() => page.locator('tr[data-device]').count()).toBe(20);
    // Search narrows the list (ThingsBoard's textSearch).
    await page.getByLabel('Search devices by name').fill('gpio');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.locator('tr[data-device]').count()).toBe(1);

    await panelRow.getByRole('link').click();
    const pin3 = page.locator('iot-rpc-gpio button[data-pin="3"]');
    await expect.poll(() => pin3.getAttribute('aria-pressed')).toBe('false');
    const clicked = performance.now();
    await pin3.click();
    await expect.poll(() => pin3.getAttribute('aria-pressed'), { interval: 5 }).toBe('true');
    const toggleMs = performance.now() - clicked;
    // The device's own state, asked of the device itself.
    await expect(t.server.call('panel', { method: 'getGpioStatus' })).resolves.toMatchObject({ '3': true });
    // The call's timeline, from the WebSocket call events.
    await expect.poll(() => page.locator('li[data-call] .step').allTextContents()).toEqual(expect.arrayContaining(['queued', 'sent', 'replied']));

    const terminal = page.getByLabel('method and JSON params');
    await terminal.fill('setValue 42');
    await terminal.press('Enter');
    await expect.poll(() => page.locator('iot-rpc-terminal .reply').last().textContent()).toMatch(/^← 42 {2}\(\d+ ms\)$/);
    await terminal.press('ArrowUp');
    expect(await terminal.inputValue()).toBe('setValue 42');
    await shot(page, 'device-desktop');
    await page.setViewportSize(SIZES.phone);
    await shot(page, 'device-phone');
    const transferred = (await Promise.all(consoleFiles)).reduce((sum, n) => sum + n, 0);
    // The page weight target: the console's files, as sent (gzip), at most 150 KB.
    expect(transferred).toBeLessThanOrEqual(150 * 1024);
    console.log(`console: ${transferred} bytes transferred for its files (gzip), login form interactive ${interactiveMs.toFixed(0)} ms after navigation, GPIO toggle click → device → screen ${toggleMs.toFixed(0)} ms`);
    await context.close();
  }, 30_000);

  it('the terminal says which failure it was: a call to an offline device', async () => {
    const { context, page } = await openPage(SIZES.phone, USERS.tenant);
    await shot(page, 'devices-phone');
    await page.goto(`${t.httpUrl}/#/device/dev-plain`);
    const terminal = page.getByLabel('method and JSON params');
    await terminal.fill('getValue');
    await terminal.press('Enter');
    await expect.poll(() => page.locator('iot-rpc-terminal .error').last().textContent(), { timeout: 10_000 }).toMatch(/^✗ Offline: The device has no session: the call was never sent \(waited 10 s\)\. \[IOT_ERR_DEVICE_OFFLINE\]/);
    await context.close();
  }, 30_000);

  it('a customer user sees only its customer\'s devices and cannot open a tenant device; a system administrator has no RPC controls', async () => {
    const { context, page } = await openPage(SIZES.desktop, USERS.customer);
    const listed = await page.locator('tr[data-device]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-device')));
    expect(listed.sort()).toEqual(['dev-a', 'panel']);
    await page.goto(`${t.httpUrl}/#/device/dev-plain`);
    await expect.poll(() => page.locator('iot-rpc-device .error').textContent()).toMatch(/another customer|Forbidden/i);
    expect(await page.locator('iot-rpc-terminal').count()).toBe(0);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Email').fill(USERS.sysadmin.email);
    await page.getByLabel('Password').fill(USERS.sysadmin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.locator('iot-rpc-console main').textContent()).toContain('no devices');
    expect(await page.locator('iot-rpc-gpio, iot-rpc-terminal').count()).toBe(0);
    await shot(page, 'sysadmin-desktop');
    await context.close();
  }, 30_000);

  it('the knob sends only the last value asked for while a set is in flight; a persistent call to an offline device goes QUEUED, then SUCCESSFUL live when it connects', async () => {
    const { context, page } = await openPage(SIZES.desktop, USERS.tenant);
    await page.goto(`${t.httpUrl}/#/device/panel`);
    const knob = page.locator('iot-rpc-knob');
    const slider = knob.getByRole('slider');
    await expect.poll(() => slider.isEnabled()).toBe(true);
    await slider.evaluate((input: HTMLInputElement) => {
      for (const value of [10, 20, 30]) {
        input.value = String(value);
        input.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
      }
    });
    await expect.poll(() => knob.evaluate((el) => (el as unknown as { sent: number[] }).sent)).toEqual([10, 30]);
    await expect.poll(() => t.server.call('panel', { method: 'getValue' })).toBe(30);

    await page.goto(`${t.httpUrl}/#/device/later`);
    const table = page.locator('iot-rpc-persistent-table');
    await table.getByLabel('method', { exact: true }).fill('getGpioStatus');
    await table.getByRole('button', { name: 'Add' }).click();
    const row = table.locator('tr[data-rpc]').first();
    await expect.poll(() => row.locator('[data-status]').textContent()).toBe('QUEUED');
    await shot(page, 'persistent-queued-desktop');
    const later = new DeviceSimulator({ server: `127.0.0.1:${t.mqttPort}`, transport: 'mqtt', devices: 1, tokenPrefix: 'sim-later-', profile: 'gpio' });
    try {
      await later.start();
      await expect.poll(() => row.locator('[data-status]').textContent(), { timeout: 10_000 }).toBe('SUCCESSFUL');
      await shot(page, 'persistent-successful-desktop');
    } finally {
      await later.stop();
    }
    await context.close();
  }, 40_000);

  it('a widget on an application\'s own page (another origin) calls the device, with the README\'s example', async () => {
    embeddingPage = embeddingHtml(t.httpUrl, await t.login(USERS.tenant));
    const { context, page } = await openPage(SIZES.desktop);
    await page.goto(`${appOrigin}/`);
    const pin5 = page.locator('iot-rpc-gpio button[data-pin="5"]');
    const before = ((await t.server.call('panel', { method: 'getGpioStatus' })) as Record<string, boolean>)['5'];
    await expect.poll(() => pin5.getAttribute('aria-pressed')).toBe(String(before));
    await pin5.click();
    await expect.poll(() => pin5.getAttribute('aria-pressed')).toBe(String(!before));
    await expect(t.server.call('panel', { method: 'getGpioStatus' })).resolves.toMatchObject({ '5': !before });
    await shot(page, 'embedded-widget-desktop');
    await context.close();
  }, 30_000);

  it('dashboard: widgets for several devices, arranged, kept in the browser, exported and imported as JSON', async () => {
    const { context, page } = await openPage(SIZES.desktop, USERS.tenant);
    await page.goto(`${t.httpUrl}/#/dashboard`);
    const dashboard = page.locator('iot-rpc-dashboard');
    await expect.poll(() => dashboard.getByLabel('device', { exact: true }).locator('option').count()).toBeGreaterThan(2);
    for (const [widget, device] of [['gpio', 'panel'], ['led', 'panel'], ['switch', 'later']]) {
      await dashboard.getByLabel('widget', { exact: true }).selectOption(widget!);
      await dashboard.getByLabel('device', { exact: true }).selectOption(device!);
      await dashboard.getByRole('button', { name: 'Add widget' }).click();
    }
    await dashboard.getByRole('button', { name: 'move led earlier' }).click();
    const order = () => dashboard.locator('[data-tile] .tools span').allTextContents();
    await expect.poll(order).toEqual(['led · GPIO Panel', 'gpio · GPIO Panel', 'switch · Later Device']);
    await expect.poll(() => dashboard.locator('iot-rpc-gpio button[data-pin]').count()).toBe(7);
    await shot(page, 'dashboard-desktop');
    await page.setViewportSize(SIZES.phone);
    await shot(page, 'dashboard-phone');
    await page.reload();
    await expect.poll(order).toEqual(['led · GPIO Panel', 'gpio · GPIO Panel', 'switch · Later Device']);
    const exported = JSON.parse(await dashboard.getByLabel('layout JSON').inputValue()) as { version: number; tiles: Array<{ widget: string; device: string }> };
    expect(exported.tiles.map(({ widget, device }) => `${widget}:${device}`)).toEqual(['led:panel', 'gpio:panel', 'switch:later']);
    await dashboard.getByLabel('layout JSON').fill(JSON.stringify({ version: 1, tiles: [{ widget: 'terminal', device: 'panel' }] }));
    await dashboard.getByRole('button', { name: 'Import' }).click();
    await expect.poll(order).toEqual(['terminal · GPIO Panel']);
    await dashboard.getByLabel('layout JSON').fill('{"version":1,"tiles":[{"widget":"toaster","device":"panel"}]}');
    await dashboard.getByRole('button', { name: 'Import' }).click();
    await expect.poll(() => dashboard.getByRole('alert').textContent()).toMatch(/Not imported: tile 0: widget must be one of/);
    await expect.poll(order).toEqual(['terminal · GPIO Panel']);
    await context.close();
  }, 40_000);

  it('bulk: one method to chosen devices, each result as it streams in, then the summary', async () => {
    const { context, page } = await openPage(SIZES.desktop, USERS.tenant);
    await page.goto(`${t.httpUrl}/#/bulk`);
    const bulk = page.locator('iot-rpc-bulk');
    await bulk.getByLabel('GPIO Panel').check();
    await bulk.getByLabel('Device Plain').check();
    await bulk.getByLabel('method').fill('getValue');
    await bulk.getByLabel('timeout ms').fill('5000');
    await bulk.getByRole('button', { name: 'Call all' }).click();
    // The panel answers at once; the offline device only after its 5 s: its row is not there yet.
    await expect.poll(() => bulk.locator('tr[data-result="panel"] td').nth(1).textContent()).toBe('200');
    expect(await bulk.locator('tr[data-result="dev-plain"]').count()).toBe(0);
    await shot(page, 'bulk-running-desktop');
    await expect.poll(() => bulk.locator('[data-summary]').textContent(), { timeout: 10_000 }).toMatch(/1 of 2 ok, 1 failed · IOT_ERR_DEVICE_OFFLINE 1/);
    expect(await bulk.locator('tr[data-result="dev-plain"] td').nth(2).textContent()).toMatch(/^IOT_ERR_DEVICE_OFFLINE/);
    await shot(page, 'bulk-desktop');
    await page.setViewportSize(SIZES.phone);
    await shot(page, 'bulk-phone');
    await context.close();
  }, 40_000);

  it('works with the keyboard alone: a pin toggled with Enter, the switch flipped with Space (one-way: "Delivered", no spinner)', async () => {
    const { context, page } = await openPage(SIZES.desktop, USERS.tenant);
    await page.goto(`${t.httpUrl}/#/device/panel`);
    const pin6 = page.locator('iot-rpc-gpio button[data-pin="6"]');
    await expect.poll(() => pin6.getAttribute('aria-pressed')).toBe('false');
    await pin6.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => pin6.getAttribute('aria-pressed')).toBe('true');
    const toggle = page.locator('iot-rpc-switch').getByRole('switch');
    await expect.poll(() => toggle.isEnabled()).toBe(true);
    const before = await toggle.getAttribute('aria-checked');
    await toggle.focus();
    await page.keyboard.press('Space');
    await expect.poll(() => toggle.getAttribute('aria-checked')).toBe(before === 'true' ? 'false' : 'true');
    await expect.poll(() => page.locator('iot-rpc-switch [role=status]').textContent()).toMatch(/^Delivered: Handed over to the device/);
    await expect(t.server.call('panel', { method: 'getValue' })).resolves.toBe(before !== 'true');
    await context.close();
  }, 30_000);
});

describe('web console sessions', () => {
  it('refreshes the access token a minute before it expires, and keeps working with the new one', async () => {
    const short = await startTestServer({ jwt: { ...testConfig().jwt, accessTtlSec: 62 } } as never);
    try {
      const { context, page } = await openPage(SIZES.desktop);
      await page.goto(`${short.httpUrl}/`);
      await page.getByLabel('Email').fill(USERS.tenant.email);
      await page.getByLabel('Password').fill(USERS.tenant.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.locator('iot-rpc-devices tr[data-device]').first().waitFor();
      const token = () => page.evaluate(() => (JSON.parse(sessionStorage.getItem('iot-rpc-console-tokens') ?? '{}') as { token?: string }).token);
      const first = await token();
      await expect.poll(token, { timeout: 10_000 }).not.toBe(first);
      await page.goto(`${short.httpUrl}/#/devices`);
      await page.reload();
      await expect.poll(() => page.locator('iot-rpc-devices tr[data-device]').count()).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByLabel('Email').waitFor();
      expect(await token()).toBeUndefined();
      await context.close();
    } finally {
      await short.close();
    }
  }, 30_000);
});

describe('LED indicator', () => {
  it('says "unknown status" while the device does not answer, asks again, and shows the status once the device answers checkStatus', async () => {
    ledPage = ledHtml(t.httpUrl, await t.login(USERS.tenant));
    const { context, page } = await openPage(SIZES.desktop);
    await page.goto(`${appOrigin}/led`);
    const status = page.locator('iot-rpc-led [data-status]');
    await expect.poll(() => page.locator('iot-rpc-led [role=status]').textContent(), { timeout: 10_000 }).toMatch(/Offline: .* Asking again in 1 s\./);
    expect(await status.textContent()).toBe('unknown status');
    const lamp = new DeviceSimulator({ server: `127.0.0.1:${t.mqttPort}`, transport: 'mqtt', devices: 1, tokenPrefix: 'sim-lamp-', profile: 'gpio' });
    try {
      await lamp.start();
      // The simulated lamp's value starts at 0: checkStatus answers false.
      await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe('off');
      expect(await page.locator('iot-rpc-led [role=status]').textContent()).toBe('');
    } finally {
      await lamp.stop();
    }
    await context.close();
  }, 30_000);
});
