/**
 * Drones in chromium against a MAVLink simulator behind a real edge agent: the marker moves with
 * its label and route; RTL from the panel; fly-to a point clicked on the map, confirmed, its target
 * marked on the map and the mode selector following the vehicle's mode; "link lost" shown; the
 * geofence alarm; the flight replayed with play/pause that says what it does. Positions come from
 * the test build's hook; the rest is read from the page.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MavlinkDroneSimulator } from '../edge-agent/src/adapters/mavlink-drone/simulator.ts';
import { launchChromium, signIn } from './support/browser.ts';
import { testHook } from './support/dashboard.ts';
import { EdgeProcess } from './support/edge.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { freePort, waitFor } from './support/wait.ts';

const SITE = 'demo-village'; // the demo basemap's boundary fences this site
const GW = 'gw-air';
const KEY = `${GW}.uav-03`;
// Inside the village, 300 m south of its northern edge (30.0531).
const HOME = { lat: 30.0503, lon: 119.951 };

type Marker = {
  key: string;
  lat: number;
  lon: number;
  kind: string;
  route?: number;
  label?: string;
  linkLost?: boolean;
  home?: { lat: number; lon: number };
};

describe.skipIf(!systemBinary(CHROMIUM, 'chromium'))('drones in chromium', () => {
  let hub: TestHub;
  let edge: EdgeProcess;
  let sim: MavlinkDroneSimulator;
  let browser: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  const drone = () =>
    testHook(
      page,
      (q, key: string) => (q.markers as unknown as () => Marker[])().find((m) => m.key === key),
      KEY,
    );
  /** What the drone's marker says beside it (altitude · battery, or "link lost"). */
  const droneLabel = () => page.textContent(`.qly-drone[data-key="${KEY}"] .qly-drone-label`);

  beforeAll(async () => {
    hub = await startTestHub();
    const port = await freePort();
    sim = new MavlinkDroneSimulator({
      sysid: 3,
      home: HOME,
      radiusM: 150,
      speedMps: 30,
      gcs: { host: '127.0.0.1', port },
    });
    await sim.start();
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: hub.brokerUrl },
        heartbeatMs: 2000,
        devices: [
          {
            type: 'mavlink-drone',
            id: 'uav-03',
            name: 'Patrol 3',
            sysid: 3,
            link: `udpin://127.0.0.1:${port}`,
            peer: `127.0.0.1:${sim.port}`,
            position: HOME,
          },
        ],
      },
      await hub.provisionGateway(GW, SITE),
    );
    edge.start();
    await waitFor(
      'drone online with its route',
      () => (hub.app.registry.getDevice(KEY)?.route?.length ?? 0) === 6,
      30_000,
    );
    browser = await launchChromium({ viewport: { width: 1400, height: 860 } });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    await page.goto(hub.baseUrl);
    await signIn(page, 'admin', ADMIN_PASSWORD);
    await page.waitForSelector(`.device[data-key="${KEY}"]`);
  });

  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
    sim?.stop();
    await hub?.close();
  });

  it('moves the marker, with altitude and battery beside it and the planned route drawn', async () => {
    const first = await waitFor('marker', () => drone());
    await waitFor('moved', async () => {
      const now = await drone();
      return now && (now.lat !== first.lat || now.lon !== first.lon);
    });
    const now = (await drone()) as Marker;
    expect(await droneLabel()).toMatch(/^\d+ m · \d+%$/);
    expect(now.route).toBe(7); // 6 waypoints, closed
    expect(Math.abs(now.lat - sim.position.lat)).toBeLessThan(0.002);
  });

  it('shows where it returns to: an H on the map, home and firmware in the panel', async () => {
    // HOME_POSITION and AUTOPILOT_VERSION, asked for by the gateway, reach the hub.
    await waitFor('home and firmware at the hub', () => {
      const d = hub.app.registry.getDevice(KEY);
      return d?.values.home_lat === HOME.lat && d.firmware === '4.5.7 (1a2b3c4d)';
    });
    const marker = await waitFor('home marker', async () => (await drone())?.home);
    expect(marker).toEqual({ lat: HOME.lat, lon: HOME.lon });
    await page.click(`.device[data-key="${KEY}"]`);
    const home = await page.waitForSelector('.panel:not([hidden]) [data-role=home]');
    expect(await home.textContent()).toBe(`${HOME.lat.toFixed(5)}, ${HOME.lon.toFixed(5)} · 30 米`);
    expect(await page.textContent('.panel:not([hidden]) [data-role=meta]')).toContain('4.5.7 (1a2b3c4d)');
  });

  it('return to launch from the panel: acknowledged by the vehicle, the result shown', async () => {
    await page.click(`.device[data-key="${KEY}"]`);
    await page.waitForSelector('.panel:not([hidden]) .cmd-buttons');
    await page.click('.cmd-buttons button:has-text("返航")');
    await page.waitForSelector('.cmd-status[data-state=ok]');
    expect(sim.modeName === 'RTL' || sim.modeName === 'LAND').toBe(true);
    await waitFor('telemetry shows RTL', () =>
      ['RTL', 'LAND'].includes(String(hub.app.registry.getDevice(KEY)?.values.mode)),
    );
  });

  it('flies to a point clicked on the map, after confirmation', async () => {
    await page.click('.drone-tools [data-role=goto]');
    const box = (await page.locator('[data-role=map]').boundingBox()) as {
      x: number;
      y: number;
      width: number;
      height: number;
    };
    await page.mouse.click(box.x + box.width * 0.55, box.y + box.height * 0.45);
    await page.waitForSelector('.drone-tools [data-role=confirm]:not([hidden])');
    expect(sim.modeName).not.toBe('GUIDED'); // nothing sent before the confirmation
    await page.fill('.drone-tools [data-role=alt]', '80');
    await page.click('.drone-tools [data-role=yes]');
    await page.waitForSelector('.drone-tools .cmd-status[data-state=ok]');
    expect(sim.modeName).toBe('GUIDED');
    // The target is marked on the map (with its altitude) until the drone gets there.
    const target = page.locator('.qly-target');
    await target.waitFor();
    expect(await target.getAttribute('title')).toBe('指点飞行目标 · 80 m');
    // The mode selector shows the mode the vehicle is in now, not the first of its list.
    await page.waitForFunction(
      () =>
        (document.querySelector('.drone-tools [data-role=mode]') as HTMLSelectElement | null)?.value ===
        'GUIDED',
    );
    expect(await page.textContent('.drone-tools [data-role=mode-now]')).toContain('引导');
    expect(hub.app.audit.list({ limit: 10, action: 'command.drone.goto' })[0]).toMatchObject({
      outcome: 'ok',
      detail: { params: { alt: 80 } },
    });
  });

  it('shows "link lost" on the marker within 5 s of the radio link dropping, then recovers', async () => {
    const cut = Date.now();
    sim.loseLink(7000);
    await page.waitForFunction(
      (key) => document.querySelector(`.qly-drone[data-key="${key}"] .qly-drone-label.lost`) !== null,
      KEY,
      { timeout: 5000 },
    );
    expect(Date.now() - cut).toBeLessThan(5000);
    expect(await droneLabel()).toBe('失联');
    const events = await hub.app.inject({
      url: `/api/devices/${KEY}/events`,
      headers: { authorization: `Bearer ${await hub.token()}` },
    });
    expect((events.json() as Array<{ type: string }>).some((e) => e.type === 'link.lost')).toBe(true);
    await page.waitForFunction(
      (key) => document.querySelector(`.qly-drone[data-key="${key}"] .qly-drone-label:not(.lost)`) !== null,
      KEY,
      { timeout: 15_000 },
    );
  });

  it('raises an alarm when the drone leaves the village geofence', async () => {
    const res = await hub.app.inject({
      method: 'POST',
      url: `/api/devices/${KEY}/commands`,
      headers: { authorization: `Bearer ${await hub.token()}` },
      payload: { action: 'drone.goto', params: { lat: 30.0575, lon: 119.951, alt: 80 }, confirm: true },
    });
    expect(res.json()).toMatchObject({ status: 'ok' });
    await waitFor('geofence alarm', () => hub.app.registry.getDevice(KEY)?.status === 'alarm', 30_000);
    expect(hub.app.registry.getDevice(KEY)?.lastEvent).toMatchObject({
      type: 'geofence.exit',
      severity: 'alarm',
    });
    await page.waitForSelector(`.device[data-key="${KEY}"][data-status=alarm]`);
  });

  it('replays the flight on the map with a time slider; play/pause says what it does', async () => {
    await page.click(`.device[data-key="${KEY}"]`);
    await page.waitForSelector('.drone-tools [data-role=load]');
    await page.click('.drone-tools [data-role=load]');
    await page.waitForSelector('.drone-tools [data-role=player]:not([hidden])');
    const replay = () =>
      testHook(page, (q) =>
        (q.replay as unknown as () => { points: number; cursor: { lat: number } } | null)(),
      );
    const start = await waitFor('replay drawn', () => replay());
    expect(start.points).toBeGreaterThan(5);
    await page.selectOption('.drone-tools [data-role=speed]', '1');
    await waitFor('the cursor moves', async () => (await replay())?.cursor.lat !== start.cursor.lat, 10_000);
    // Playing: the button offers to pause (and is pressed); pressed, it pauses and offers to play.
    const play = page.locator('.drone-tools [data-role=play]');
    expect(await play.getAttribute('aria-pressed')).toBe('true');
    expect(await play.textContent()).toContain('暂停');
    await play.click();
    expect(await play.getAttribute('aria-pressed')).toBe('false');
    expect(await play.textContent()).toContain('播放');
    const paused = (await replay())?.cursor.lat;
    await page.waitForTimeout(500);
    expect((await replay())?.cursor.lat).toBe(paused);
    await page.click('.drone-tools [data-role=end]');
    expect(await replay()).toBeNull();
  });

  it('recorded no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
