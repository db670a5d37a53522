/**
 * The broadcast console in chromium (with a fake microphone), against the hub, an edge agent process
 * with `ip-speaker` devices and loudspeaker simulators that are real RTP receivers: speakers chosen
 * on the map, text spoken on them with live delivery per speaker, coverage circles, history with
 * "send again", and hold-to-talk from the browser's microphone heard at the speaker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Recording, SpeakerSimulator } from '../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { launchChromium } from './support/browser.ts';
import { EdgeProcess } from './support/edge.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'v-console';
const GW = 'gw-console';

type Console = {
  state(): {
    selected: string[];
    current?: { id: string; speakers: Record<string, { state: string }> };
    talking: boolean;
    talkBytes: number;
    circles: number;
  };
};
type Q = {
  __qly: { broadcast: Console; pointOf(key: string): { x: number; y: number } | null; deviceCount(): number };
};

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
    const state = () => page.evaluate(() => (window as unknown as Q).__qly.broadcast.state());
    const heard = (key: string, after: number, ms = 30_000): Promise<Recording> =>
      waitFor(`${key} heard`, () => sims.get(key)?.recordings.find((r) => r.firstPacketAt >= after), ms, 50);

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
      await page.fill('input[name=username]', 'admin');
      await page.fill('input[name=password]', ADMIN_PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForFunction(() => (window as unknown as Q).__qly?.deviceCount() === 3);
      await page.click('[data-mode=broadcast]');
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await edge?.stop();
      await hub?.close();
      for (const s of sims.values()) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('speakers chosen by clicking them on the map, with coverage circles', async () => {
      await sleep(500);
      for (const key of [`${GW}.spk-1`, `${GW}.spk-3`]) {
        const p = await page.evaluate((k) => (window as unknown as Q).__qly.pointOf(k), key);
        expect(p).not.toBeNull();
        await page.mouse.click(p?.x as number, p?.y as number);
      }
      const s = await state();
      expect(s.selected.sort()).toEqual([`${GW}.spk-1`, `${GW}.spk-3`]);
      expect(s.circles).toBe(3);
      expect(await page.locator('.bc-chosen .chip').count()).toBe(2);
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
        () =>
          [...document.querySelectorAll('.bc-delivery li')].filter(
            (li) => (li as HTMLElement).dataset.state === 'finished',
          ).length === 2,
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

    it('hold to talk: the browser’s (fake) microphone is heard at the speaker', async () => {
      await page.click('[data-role=clear]');
      const p = await page.evaluate((k) => (window as unknown as Q).__qly.pointOf(k), `${GW}.spk-2`);
      await page.mouse.click(p?.x as number, p?.y as number);
      await page.click('[data-tab=talk]');
      const sent = Date.now();
      const ptt = await page.locator('[data-role=ptt]').boundingBox();
      await page.mouse.move((ptt?.x as number) + 20, (ptt?.y as number) + 10);
      await page.mouse.down();
      await page.waitForFunction(() => (window as unknown as Q).__qly.broadcast.state().talking);
      await sleep(3000);
      await page.mouse.up();
      const s = await state();
      expect(s.talkBytes).toBeGreaterThan(32_000); // over a second of 16 kHz PCM
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
