/**
 * (Clusters, draw modes and the list's keys are read through the test build's hook: a canvas shows
 * no text to read them from.)
 *
 * County scale in chromium: 10,000 devices of 40 simulated village gateways (4 towns × 10 villages ×
 * 250 devices) through the real hub and broker, telemetry streaming. The map opens on the county
 * with clusters whose counts add up; an alarm in one village shows on its cluster; clicking down the
 * clusters reaches that village's devices drawn one by one; search finds a device; clicks on list
 * items land while updates stream; no console errors.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.ts';
import { CountySim, countyLayout, writeCountyOutline } from './support/county.ts';
import { waitForDevices } from './support/dashboard.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { waitFor } from './support/wait.ts';

const SHAPE = { towns: 4, villagesPerTown: 10, devicesPerVillage: 250 };
const TOTAL = SHAPE.towns * SHAPE.villagesPerTown * SHAPE.devicesPerVillage;

interface Cluster {
  id: string;
  total: number;
  alarm: number;
  offline: number;
  x: number;
  y: number;
}
interface Q {
  __qlyTest: {
    deviceCount(): number;
    clusters(): Cluster[];
    drawMode(): string;
    drawnDevices(): string[];
    listKeys(): string[];
  };
}

describe.skipIf(!systemBinary(CHROMIUM, 'chromium'))('a county of 10,000 devices in chromium', () => {
  const layout = countyLayout(SHAPE);
  let hub: TestHub;
  let sim: CountySim;
  let browser: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const q = <T>(fn: (qly: Q['__qlyTest']) => T) =>
    page.evaluate(`(${fn.toString()})(window.__qlyTest)`) as Promise<T>;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qly-county-'));
    // The county's outline as the basemap: the map opens on it.
    const outline = writeCountyOutline(dir, layout.center);
    hub = await startTestHub({
      dataDir: dir,
      // No linkage rules: an incident's pin on the map would sit over the cluster this test clicks.
      config: {
        sites: layout.sites,
        map: { basemapFile: outline, center: layout.center, zoom: 11 },
        linkage: { rules: [] },
      },
    });
    const passwords = new Map<string, string>();
    for (const v of layout.villages) passwords.set(v.gateway, await hub.provisionGateway(v.gateway, v.id));
    sim = new CountySim(layout.villages, SHAPE.devicesPerVillage);
    await sim.start(hub.brokerUrl, passwords);
    await waitFor('10,000 devices registered', () => hub.app.registry.listDevices().length === TOTAL, 60_000);
    // Telemetry streams meanwhile (a fifth of the benchmark's rate: the hub shares this process).
    sim.run(0.2);
    browser = await launchChromium({ viewport: { width: 1920, height: 1080 } });
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (err) => problems.push(String(err)));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await sim?.stop();
    await hub?.close();
  });

  it('opens on the county with clusters whose counts add up to every device', async () => {
    await page.goto(hub.baseUrl);
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await waitForDevices(page, 10_000);
    await page.waitForFunction(() => (window as unknown as Q).__qlyTest.clusters().length > 0);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/county-open.png' });
    expect(await q((x) => x.drawMode())).not.toBe('devices');
    const clusters = await q((x) => x.clusters());
    expect(clusters.reduce((n, c) => n + c.total, 0)).toBe(TOTAL);
    expect(clusters.every((c) => c.alarm === 0)).toBe(true);
    // Nothing per device in the DOM: the list draws the rows in view, the map one canvas.
    expect(await page.locator('.devices .device').count()).toBeLessThan(120);
    expect(await page.locator('.leaflet-interactive').count()).toBeLessThan(20);
  });

  it('an alarm in one village shows on its cluster; clicking down the clusters reaches its devices', async () => {
    const village = layout.villages[17] as (typeof layout.villages)[number];
    const key = `${village.gateway}.${CountySim.deviceId(42)}`;
    await sim.alarm(17, 42);
    const clusterOf = async () =>
      (await q((x) => x.clusters())).find((c) => c.id === village.id || c.id === village.town);
    await waitFor('alarm on its cluster', async () => (await clusterOf())?.alarm === 1, 10_000);
    const others = (await q((x) => x.clusters())).filter((c) => c.id !== village.id && c.id !== village.town);
    expect(others.every((c) => c.alarm === 0)).toBe(true);
    for (let i = 0; i < 4 && (await q((x) => x.drawMode())) !== 'devices'; i++) {
      const c = await clusterOf();
      if (!c)
        throw new Error(
          `no cluster: ${await q((x) => x.drawMode())} ${JSON.stringify(await q((x) => x.clusters()))}`,
        );
      const zoom = await q((x) => (x as unknown as { zoom(): number }).zoom());
      await page.mouse.click((c as Cluster).x, (c as Cluster).y);
      await page.waitForFunction(
        (z) => (window as unknown as { __qlyTest: { zoom(): number } }).__qlyTest.zoom() !== z,
        zoom,
        { timeout: 5000 },
      );
      await page.waitForTimeout(500); // the zoom animation and a frame
    }
    expect(await q((x) => x.drawMode())).toBe('devices');
    const drawn = await q((x) => x.drawnDevices());
    expect(drawn).toContain(key);
    const ofVillage = drawn.filter((k) => k.startsWith(`${village.gateway}.`)).length;
    expect(ofVillage).toBe(SHAPE.devicesPerVillage);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/county-village.png' });
  });

  it('a page on a throttled link stays within a few seconds of live; the hub holds nothing for it', async () => {
    // Zoomed in on one village: its 250 devices' samples stream to the page.
    expect(await q((x) => x.drawMode())).toBe('devices');
    const cdp = await browser.newCDPSession(page);
    await cdp.send('Network.enable');
    let received = 0;
    cdp.on('Network.webSocketFrameReceived', (e: { response: { payloadData: string } }) => {
      received += e.response.payloadData.length;
    });
    // About 4 KB/s down: well under what the village's updates take.
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 200,
      downloadThroughput: 4 * 1024,
      uploadThroughput: 64 * 1024,
    });
    const serverSocket = () => [...hub.app.io.of('/').sockets.values()][0];
    const heapBefore = process.memoryUsage().heapUsed;
    let maxQueued = 0;
    let maxLag = 0;
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 500));
      const conn = serverSocket()?.conn as unknown as { writeBuffer: unknown[] } | undefined;
      maxQueued = Math.max(maxQueued, conn?.writeBuffer.length ?? 0);
      maxLag = Math.max(maxLag, await q((x) => (x as unknown as { lagMs(): number }).lagMs()));
    }
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    await cdp.detach();
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    console.log(`throttled: ${received} bytes in 15 s, max queued ${maxQueued}, max lag ${maxLag} ms`);
    expect(received).toBeGreaterThan(0); // it kept receiving, throttled
    expect(maxQueued).toBeLessThanOrEqual(2); // conflation: nothing piles up in the hub for it
    expect(maxLag).toBeLessThan(5000);
    expect(heapGrowthMb).toBeLessThan(64);
  });

  it('search finds a device by id and by village; a click on the result opens it', async () => {
    const village = layout.villages[23] as (typeof layout.villages)[number];
    const key = `${village.gateway}.${CountySim.deviceId(7)}`;
    await page.fill('[data-role=device-search]', key);
    await page.waitForFunction((k) => {
      const keys = (window as unknown as Q).__qlyTest.listKeys();
      return keys.length === 1 && keys[0] === k;
    }, key);
    await page.click(`.device[data-key="${key}"]`);
    await page.waitForFunction(
      (k) => document.querySelector('.panel:not([hidden]) h2')?.textContent?.includes('008') && k,
      key,
    );
    await page.fill('[data-role=device-search]', village.name);
    await page.waitForFunction(
      (n) => (window as unknown as Q).__qlyTest.listKeys().length === n,
      SHAPE.devicesPerVillage,
    );
    const keys = await q((x) => x.listKeys());
    expect(keys.every((k) => k.startsWith(`${village.gateway}.`))).toBe(true);
    await page.fill('[data-role=device-search]', '');
    await page.waitForFunction((n) => (window as unknown as Q).__qlyTest.listKeys().length === n, TOTAL);
  });

  it('clicks on list items land while updates stream (12 of 12 at 10,000 devices)', async () => {
    await page.selectOption('select[data-filter=kind]', 'sensor');
    // The simulator's kinds go sensor, sensor, camera, speaker: 126 sensors in each village of 250.
    const sensors =
      layout.villages.length *
      Array.from({ length: SHAPE.devicesPerVillage }, (_, i) => i % 4 < 2).filter(Boolean).length;
    await page.waitForFunction((n) => (window as unknown as Q).__qlyTest.listKeys().length === n, sensors);
    expect(await page.locator('[data-role=device-count]').textContent()).toBe(`(${sensors} / ${TOTAL})`);
    const keys = (
      await page.$$eval('.devices .device', (rows) =>
        rows.map((r) => (r as HTMLElement).dataset.key as string),
      )
    ).slice(0, 12);
    expect(keys.length).toBe(12);
    let landed = 0;
    for (const key of keys) {
      await page.click(`.device[data-key="${key}"]`, { timeout: 2000 });
      const name = await page.textContent(`.device[data-key="${key}"] .name`);
      await page
        .waitForFunction((n) => document.querySelector('.panel h2')?.textContent === n, name, {
          timeout: 2000,
        })
        .then(
          () => {
            landed += 1;
          },
          () => undefined,
        );
    }
    expect(landed).toBe(12);
    await page.selectOption('select[data-filter=kind]', '');
    expect(sim.published).toBeGreaterThan(1000); // updates were streaming all along
    expect(problems).toEqual([]);
  });
});
