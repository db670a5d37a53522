/**
 * The video wall in a real chromium, end to end: ONVIF camera simulators → the real edge agent
 * process (onvif-camera adapter) → MQTT and the push socket → the hub's relay → the dashboard; one
 * camera the hub pulls from GStreamer's RTSP server. Decoded frames are counted by the players
 * themselves (requestVideoFrameCallback for MSE, JSMpeg's decode callback), so "playing" means
 * pixels, not bytes. Also: watch by a click on the marker, drag from the list and from the map,
 * the JSMpeg path, the enlarged view with PTZ that turns the simulated head (and the map's field of
 * view), a snapshot download, "stalled" while the camera is dead and live again after, and a camera
 * event flashing its marker, listed as an alarm, acknowledged, and kept in the device's history.
 * No console errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { launchChromium, signIn } from './support/browser.ts';
import { testHook, waitForDevices } from './support/dashboard.ts';
import { EdgeProcess } from './support/edge.ts';
import { GstRtspServer, gstRtspAvailable } from './support/gst-rtsp.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GW = 'gw-wall';
const PUSH = `${GW}.cam-gate`;
const PULL = `${GW}.cam-bridge`;
const CAM_PASSWORD = 'wall-cam-secret';

type TileStatus = {
  tile: number;
  device: string;
  state: string;
  format: string;
  frames: number;
  firstFrameMs?: number;
};

describe.skipIf(
  !systemBinary(CHROMIUM, 'chromium') || !systemBinary('/usr/bin/ffmpeg', 'ffmpeg') || !gstRtspAvailable(),
)('the video wall in chromium', () => {
  let hub: TestHub;
  let gst: GstRtspServer;
  let gate: CameraSimulator;
  let bridge: CameraSimulator;
  let edge: EdgeProcess;
  let browser: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'qly-wall-'));
  // Decoded frames per tile: the players' own counts, read through the test build's hook.
  const video = () => testHook(page, (q) => (q.video as unknown as () => TileStatus[])());
  const pointOf = (key: string) =>
    testHook(
      page,
      (q, k: string) => (q.pointOf as unknown as (k: string) => { x: number; y: number })(k),
      key,
    );
  const tileOf = async (key: string) => (await video()).find((v) => v.device === key && v.tile >= 0);
  const playing = (key: string, format: string, min = 10) =>
    waitFor(
      `${key} playing (${format})`,
      async () => {
        const t = await tileOf(key);
        return t && t.format === format && t.state === 'live' && t.frames >= min ? t : undefined;
      },
      20_000,
      100,
    );

  beforeAll(async () => {
    gst = new GstRtspServer('admin', CAM_PASSWORD);
    await gst.start();
    gate = new CameraSimulator({ credentials: { username: 'admin', password: CAM_PASSWORD } });
    bridge = new CameraSimulator({
      credentials: { username: 'admin', password: CAM_PASSWORD },
      ptz: false,
      forwardRtp: gst.udp,
    });
    await gate.start();
    await bridge.start();
    hub = await startTestHub({
      config: {
        video: {
          idleStopMs: 1000,
          stallMs: 1500,
          watchdogMs: 4000,
          pull: { [PULL]: { main: gst.url('main'), sub: gst.url('sub') } },
        },
      },
    });
    const password = await hub.provisionGateway(GW, SITE);
    writeFileSync(join(dir, 'cam.pw'), CAM_PASSWORD);
    const camera = (
      id: string,
      sim: CameraSimulator,
      position: { lat: number; lon: number },
      heading: number,
    ) => ({
      type: 'onvif-camera',
      id,
      name: id === 'cam-gate' ? '村口摄像头' : '桥头摄像头',
      position,
      heading,
      fov: 60,
      xaddr: sim.xaddr,
      username: 'admin',
      passwordFile: join(dir, 'cam.pw'),
      healthIntervalMs: 1000,
    });
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: hub.brokerUrl },
        video: { hubUrl: hub.baseUrl },
        devices: [
          camera('cam-gate', gate, { lat: 30.044, lon: 119.948 }, 90),
          camera('cam-bridge', bridge, { lat: 30.04, lon: 119.955 }, 200),
        ],
      },
      password,
    );
    edge.start();
    await waitFor(
      'cameras with video',
      () => [PUSH, PULL].every((k) => hub.app.registry.getDevice(k)?.capabilities.includes('video')),
      20_000,
    );
    browser = await launchChromium({ viewport: { width: 1600, height: 900 }, acceptDownloads: true });
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(hub.baseUrl);
    await signIn(page, 'admin', ADMIN_PASSWORD);
    await waitForDevices(page, 2);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
    await hub?.close();
    await gate?.stop();
    await bridge?.stop();
    await gst?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a click on a camera marker plays its sub-stream on the wall (MSE, pushed by the gateway)', async () => {
    const at = await pointOf(PUSH);
    await page.mouse.click(at.x, at.y);
    const tile = await playing(PUSH, 'mse');
    expect(tile.tile).toBe(0);
    expect(await page.locator('[data-tile="0"] .tile-name').textContent()).toBe('村口摄像头');
    expect(await page.locator('[data-tile="0"]').getAttribute('data-state')).toBe('live');
    expect(hub.app.video.list()).toEqual([
      expect.objectContaining({ device: PUSH, stream: 'sub', source: 'push' }),
    ]);
  });

  it('a camera dragged from the device list plays in the tile it is dropped on (pulled from GStreamer)', async () => {
    await page.locator(`.devices [data-key="${PULL}"]`).dragTo(page.locator('[data-tile="3"]'));
    const tile = await playing(PULL, 'mse');
    expect(tile.tile).toBe(3);
    expect(hub.app.video.list().find((r) => r.device === PULL)).toMatchObject({ source: 'pull' });
  });

  it('a camera dragged from the map onto a tile plays there', async () => {
    const at = await pointOf(PULL);
    const target = await page.locator('[data-tile="1"]').boundingBox();
    if (!target) throw new Error('no tile 1');
    await page.mouse.move(at.x, at.y);
    await page.mouse.down();
    await page.mouse.move(at.x + 40, at.y + 10, { steps: 4 });
    await page.mouse.move(target.x + target.width / 2, target.y + target.height / 2, { steps: 8 });
    await page.mouse.up();
    await waitFor(
      'tile 1 shows the bridge camera',
      async () => (await video()).some((v) => v.tile === 1 && v.device === PULL),
      5000,
    );
    await page.locator('[data-tile="1"] [data-action=close]').click();
  });

  it('JSMpeg plays both cameras where MSE is not used (MPEG-1 transcoded by the hub)', async () => {
    await page.goto(`${hub.baseUrl}/?video=jsmpeg`);
    await waitForDevices(page, 2);
    // The wall comes back as it was left.
    await playing(PUSH, 'jsmpeg');
    await playing(PULL, 'jsmpeg');
    await page.goto(hub.baseUrl);
    await waitForDevices(page, 2);
    await playing(PUSH, 'mse');
  });

  it('the enlarged view plays the main stream, and its joystick turns the camera (and its cone on the map)', async () => {
    const cone = async () =>
      (
        await testHook(page, (q) =>
          (q.markers as unknown as () => Array<{ key: string; sector?: { bearing: number } }>)(),
        )
      ).find((m) => m.key === PUSH)?.sector?.bearing;
    const bearingBefore = await cone();
    await page.dblclick('[data-tile="0"]');
    await waitFor(
      'main stream playing',
      async () => (await video()).some((v) => v.tile === -1 && v.state === 'live' && v.frames > 5),
      20_000,
      100,
    );
    expect(hub.app.video.list().some((r) => r.device === PUSH && r.stream === 'main')).toBe(true);
    await page.waitForSelector('.ptz-presets option[value="1"]', { state: 'attached' });
    const ptz = gate.ptz as NonNullable<typeof gate.ptz>;
    const panBefore = ptz.tick().pan;
    const right = page.locator('.ptz-pad [data-pan="1"][data-tilt="0"]');
    await right.hover();
    await page.mouse.down();
    await page.waitForTimeout(1200);
    await page.mouse.up();
    await waitFor('the head stopped after the release', () => !ptz.moving.panTilt, 5000);
    const turned = (((ptz.tick().pan - panBefore) % 360) + 360) % 360;
    expect(turned).toBeGreaterThan(20);
    // The map's field of view follows the camera's pan (reported by the adapter).
    await waitFor('cone turned', async () => (await cone()) !== bearingBefore, 10_000, 200);
    await page.click('[data-action=close-big]');
  });

  it('PTZ by keyboard: Enter on a tile opens the large view with the joystick focused; a held arrow turns the head, release stops it; + zooms; Escape closes and returns to the tile', async () => {
    const ptz = gate.ptz as NonNullable<typeof gate.ptz>;
    await page.focus('[data-tile="0"]');
    await page.keyboard.press('Enter');
    const pad = page.getByRole('application', { name: /云台摇杆/ });
    await expect.poll(() => pad.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.waitForSelector('.ptz-presets option[value="1"]', { state: 'attached' });
    const panBefore = ptz.tick().pan;
    await page.keyboard.down('ArrowRight');
    await page.waitForTimeout(1200);
    await page.keyboard.up('ArrowRight');
    await waitFor('the head stopped after the key was released', () => !ptz.moving.panTilt, 5000);
    expect((((ptz.tick().pan - panBefore) % 360) + 360) % 360).toBeGreaterThan(20);
    const zoomBefore = ptz.tick().zoom;
    await page.keyboard.down('+');
    await page.waitForTimeout(800);
    await page.keyboard.up('+');
    await waitFor('the zoom stopped', () => !ptz.moving.zoom, 5000);
    expect(ptz.tick().zoom).toBeGreaterThan(zoomBefore);
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-role=big]', { state: 'hidden' });
    expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.tile)).toBe('0');
  });

  it('the snapshot button downloads a JPEG of the camera', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-tile="0"] [data-action=snapshot]'),
    ]);
    expect(download.suggestedFilename()).toMatch(/^gw-wall\.cam-gate-.*\.jpg$/);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    const jpeg = readFileSync(path);
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
  });

  it('a camera that dies shows "stalled" on its tile, and plays again when it is back', async () => {
    await playing(PULL, 'mse');
    await gst.kill();
    await waitFor('stalled tile', async () => (await tileOf(PULL))?.state === 'stalled', 15_000, 100);
    expect(await page.locator('[data-tile="3"]').getAttribute('data-state')).toBe('stalled');
    await gst.start();
    const before = (await tileOf(PULL))?.frames ?? 0;
    await playing(PULL, 'mse', before + 10);
  }, 60_000);

  it('a camera event flashes its marker and enters the alarm list; acknowledged, it leaves; kept in history', async () => {
    gate.trigger('motion', true);
    await page.waitForSelector('.alarms li.alarm');
    expect(await page.locator('.alarms li.alarm').first().textContent()).toContain('移动侦测');
    expect(await testHook(page, (q) => (q.flashing as unknown as () => string[])())).toContain(PUSH);
    gate.trigger('motion', false);
    gate.trigger('tamper', true);
    await waitFor(
      'two alarms',
      async () => (await page.locator('.alarms li.alarm').count()) === 2,
      10_000,
      100,
    );
    await page.locator('.alarms li.alarm [data-role=ack]').first().click();
    await waitFor(
      'one left',
      async () => (await page.locator('.alarms li.alarm').count()) === 1,
      10_000,
      100,
    );
    const res = await fetch(`${hub.baseUrl}/api/alarms`, {
      headers: { authorization: `Bearer ${await hub.token()}` },
    });
    const { alarms } = (await res.json()) as { alarms: Array<{ type: string; ackedBy: string | null }> };
    expect(alarms.map((a) => [a.type, a.ackedBy])).toEqual([
      ['tamper', 'admin'],
      ['motion', null],
    ]);
    const history = await fetch(`${hub.baseUrl}/api/devices/${PUSH}/events`, {
      headers: { authorization: `Bearer ${await hub.token()}` },
    });
    const events = (await history.json()) as Array<{ type: string }>;
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['motion', 'tamper']));
  });

  it('switches between 1, 4, 9 and 16 tiles keeping the cameras on the wall', async () => {
    for (const n of [9, 16, 1, 4]) {
      await page.click(`.wall-layouts [data-layout="${n}"]`);
      expect(await page.locator('.wall-grid .tile').count()).toBe(n);
    }
    await playing(PUSH, 'mse');
    // A camera hidden by the 1-tile layout comes back in its place.
    expect((await playing(PULL, 'mse')).tile).toBe(3);
    await page.screenshot({ path: 'test-results/video-wall.png' });
    expect(consoleErrors).toEqual([]);
  });

  it('清空 takes every camera off the wall and keeps its layout; a camera put back plays', async () => {
    await page.click('.wall-layouts [data-layout="4"]');
    await playing(PUSH, 'mse');
    await page.click('[data-role=clear-wall]');
    expect(await page.locator('.wall-grid .tile').count()).toBe(4);
    expect(await page.locator('.wall-grid .tile[data-state=empty]').count()).toBe(4);
    expect(await video()).toEqual([]);
    await page.locator(`.devices [data-key="${PUSH}"]`).dragTo(page.locator('[data-tile="2"]'));
    expect((await playing(PUSH, 'mse')).tile).toBe(2);
  });
});
