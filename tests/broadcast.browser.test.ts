/**
 * The broadcast console in chromium (with a fake microphone), against the hub, an edge agent process
 * with `ip-speaker` devices and loudspeaker simulators that are real RTP receivers: speakers chosen
 * on the map (by keyboard, through the map's items), text spoken on them with live delivery per
 * speaker, coverage circles, history with "send again", a broadcast stopped on one speaker and then
 * everywhere (the simulators fall silent), and hold-to-talk from the browser's microphone heard at
 * the speaker, its priority said before the microphone opens. Driven through the page; the test
 * build's hook only for what no page shows (microphone bytes sent, circles drawn).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Recording, SpeakerSimulator } from '../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { launchChromium, signIn } from './support/browser.ts';
import { testHook, waitForDevices } from './support/dashboard.ts';
import { EdgeProcess } from './support/edge.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'v-console';
const GW = 'gw-console';

type ConsoleState = { selected: string[]; talking: boolean; talkBytes: number; circles: number };

describe.skipIf(!systemBinary(CHROMIUM, 'chromium') || !systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))(
  'broadcast console in chromium',
  () => {
    let hub: TestHub;
    let edge: EdgeProcess;
    let browser: BrowserContext;
    let page: Page;
    const sims = new Map<string, SpeakerSimulator>();
    const errors: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'qly-bc-browser-'));
    const state = () => testHook(page, (q) => (q.broadcast as unknown as { state(): ConsoleState }).state());
    const heard = (key: string, after: number, ms = 30_000): Promise<Recording> =>
      waitFor(`${key} heard`, () => sims.get(key)?.recordings.find((r) => r.firstPacketAt >= after), ms, 50);
    /** Chooses a speaker on the map as a keyboard user does: its item on the map, Enter. */
    const pickOnMap = async (key: string) => {
      await page.focus(`.map-items [data-item="d:${key}"]`);
      await page.keyboard.press('Enter');
    };

    beforeAll(async () => {
      hub = await startTestHub();
      const devices = [];
      for (let i = 1; i <= 3; i++) {
        const sim = new SpeakerSimulator({ volume: 100, silenceGapMs: 600 });
        await sim.start();
        sims.set(`${GW}.spk-${i}`, sim);
        devices.push({
          type: 'ip-speaker',
          id: `spk-${i}`,
          name: `大喇叭 ${i}`,
          position: { lat: 30.04 + (i - 2) * 0.004, lon: 119.95 + (i - 2) * 0.004 },
          rtp: sim.rtpUrl,
          controlUrl: sim.controlUrl,
          coverageM: 200,
        });
      }
      edge = new EdgeProcess(
        {
          gateway: { id: GW, site: SITE },
          mqtt: { url: hub.brokerUrl },
          video: { hubUrl: hub.baseUrl },
          devices,
        },
        await hub.provisionGateway(GW, SITE),
      );
      edge.start();
      await waitFor(
        'speakers registered',
        () => [...sims.keys()].every((k) => hub.app.registry.getDevice(k)),
        30_000,
      );
      browser = await launchChromium({
        viewport: { width: 1600, height: 900 },
        media: true,
        permissions: ['microphone'],
      });
      page = await browser.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(hub.baseUrl);
      await signIn(page, 'admin', ADMIN_PASSWORD);
      await waitForDevices(page, 3);
      await page.click('[data-mode=broadcast]');
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await edge?.stop();
      await hub?.close();
      for (const s of sims.values()) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('speakers chosen on the map, with coverage circles', async () => {
      await page.waitForSelector(`.map-items [data-item="d:${GW}.spk-3"]`, { state: 'attached' });
      for (const key of [`${GW}.spk-1`, `${GW}.spk-3`]) await pickOnMap(key);
      const chips = await page.$$eval('.bc-chosen .chip', (els) =>
        els.map((e) => (e as HTMLElement).dataset.key),
      );
      expect(chips.sort()).toEqual([`${GW}.spk-1`, `${GW}.spk-3`]);
      expect((await state()).circles).toBe(3);
    });

    it('text to speech on the chosen speakers: delivery shown per speaker, played to the end', async () => {
      const sent = Date.now();
      await page.fill('[data-role=text]', '请注意，今晚有大风。');
      await page.selectOption('[data-role=priority]', 'warning');
      await page.click('[data-role=send]');
      const [a, b] = await Promise.all([heard(`${GW}.spk-1`, sent), heard(`${GW}.spk-3`, sent)]);
      expect(a.rmsDbfs).toBeGreaterThan(-35);
      expect(b.durationMs).toBeGreaterThan(1000);
      expect(sims.get(`${GW}.spk-2`)?.recordings.length).toBe(0);
      await page.waitForFunction(
        () => document.querySelectorAll('.bc-delivery li[data-state=finished]').length === 2,
        undefined,
        { timeout: 20_000 },
      );
      const history = await page.locator('.bc-history li').first().innerText();
      expect(history).toContain('请注意，今晚有大风');
    });

    it('send again from the history', async () => {
      const sent = Date.now();
      await page.locator('.bc-history [data-replay]').first().click();
      await heard(`${GW}.spk-1`, sent);
      await page.waitForFunction(() => document.querySelectorAll('.bc-history li').length >= 2);
    });

    it('stop on one speaker from its delivery row: that one falls silent, the other plays on; then stop everywhere', async () => {
      const [one, three] = [`${GW}.spk-1`, `${GW}.spk-3`];
      const playing = (key: string) => sims.get(key)?.playing === true;
      await waitFor('the replay played out', () => !playing(one) && !playing(three), 30_000, 50);
      const sent = Date.now();
      // Long enough that a natural end could not pass for a stop.
      await page.fill('[data-role=text]', '请注意，这是一条较长的测试广播，用于检验停止按钮。');
      await page.fill('[data-role=repeat]', '5');
      await page.click('[data-role=send]');
      await waitFor('both speakers playing', () => playing(one) && playing(three), 30_000, 50);
      await page.waitForSelector(
        `.bc-delivery li[data-key="${one}"][data-state=started] [data-stop-speaker]`,
      );
      const stopAt = Date.now();
      await page.getByRole('button', { name: '停止 大喇叭 1 的播放' }).click();
      const first = await heard(one, sent, 10_000);
      expect(first.lastPacketAt - stopAt).toBeLessThan(1500);
      expect(playing(three)).toBe(true);
      // The page says so, in words: stopped by an officer.
      await page.waitForFunction(
        (k) =>
          document.querySelector(`.bc-delivery li[data-key="${k}"]`)?.getAttribute('data-state') ===
          'interrupted',
        one,
        { timeout: 10_000 },
      );
      expect(await page.locator(`.bc-delivery li[data-key="${one}"]`).innerText()).toContain('已人工停止');
      const allAt = Date.now();
      await page.click('.bc-current [data-cancel]');
      const second = await heard(three, sent, 10_000);
      expect(second.lastPacketAt - allAt).toBeLessThan(1500);
      await page.waitForFunction(
        () => document.querySelector('[data-role=current-state]')?.textContent === '已取消',
      );
      await page.fill('[data-role=repeat]', '1');
    });

    it('hold to talk: its priority said first; the browser’s (fake) microphone is heard at the speaker', async () => {
      await page.click('[data-role=clear]');
      await pickOnMap(`${GW}.spk-2`);
      await page.selectOption('[data-role=priority]', 'emergency');
      await page.click('[data-tab=talk]');
      // Before the microphone opens, the officer reads at which priority the talk goes out.
      expect(await page.textContent('[data-role=talk-priority]')).toContain('紧急');
      expect(await page.textContent('[data-role=ptt]')).toContain('紧急');
      const sent = Date.now();
      const ptt = await page.locator('[data-role=ptt]').boundingBox();
      await page.mouse.move((ptt?.x as number) + 20, (ptt?.y as number) + 10);
      await page.mouse.down();
      await page.waitForSelector('[data-role=ptt][data-talking]');
      await sleep(3000);
      await page.mouse.up();
      expect((await state()).talkBytes).toBeGreaterThan(32_000); // over a second of 16 kHz PCM
      const r = await heard(`${GW}.spk-2`, sent);
      expect(r.durationMs).toBeGreaterThan(1000);
      expect(r.rmsDbfs).toBeGreaterThan(-50); // the fake device beeps
      if (process.env.QLY_SCREENSHOT) await page.screenshot({ path: process.env.QLY_SCREENSHOT });
    });

    it('recorded no console errors', () => {
      expect(errors).toEqual([]);
    });
  },
);
