/**
 * History charts in chromium (Asia/Shanghai): two tanks' water levels stored by the hub (the
 * devices announced by a gateway's real uplink, 100,000 samples each in the store), charted with
 * 100,000 points, zoomed, compared, exported as CSV with local and UTC times, named in words with
 * units and values rounded. A preset ("last day") ends now, however long the page has been open.
 * Draw times come from the test build's hook; what an officer sees is read from the page.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topics } from '@qianliyan/protocols';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, signIn } from './support/browser.ts';
import { testHook, waitForDevices } from './support/dashboard.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { startUplink } from './support/uplink.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'village-h';
const GW = 'gw-hist';
const N = 100_000;
const T_END = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
const T_START = T_END - N * 1000;

interface Stats {
  points: number;
  series: number;
  bucketMs: number;
  drawMs: number;
  loading: boolean;
  error?: string;
}
type History = { stats: Stats; zoom(a: number, b: number): number };

describe.skipIf(!systemBinary(CHROMIUM, 'chromium'))('history charts in chromium', () => {
  let hub: TestHub;
  let browser: BrowserContext;
  let page: Page;
  const errors: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'qly-history-'));

  beforeAll(async () => {
    hub = await startTestHub();
    const edge = await startUplink(hub.brokerUrl, SITE, GW, await hub.provisionGateway(GW, SITE));
    for (const [id, name] of [
      ['tank-1', '水位 1'],
      ['tank-2', '水位 2'],
    ]) {
      edge.send(topics.meta(SITE, GW, id as string), {
        ts: Date.now(),
        kind: 'sensor',
        name,
        position: { lat: 30.04, lon: 119.95 },
        capabilities: [],
        units: { level: 'm' },
      });
      edge.send(topics.telemetry(SITE, GW, id as string), { ts: Date.now(), values: { level: 1 } });
    }
    await edge.drained();
    await edge.close();
    // A day and a bit of 1 Hz samples for each, written as the ingest would (batches of 5,000).
    for (const [device, phase] of [
      [`${GW}.tank-1`, 0],
      [`${GW}.tank-2`, Math.PI / 2],
    ] as const)
      for (let i = 0; i < N; i += 5000)
        await hub.store.write({
          telemetry: Array.from({ length: 5000 }, (_, k) => ({
            device,
            gateway: GW,
            seq: 10 + i + k,
            ts: T_START + (i + k) * 1000,
            values: { level: 3 + Math.sin((i + k) / 3000 + phase) },
          })),
          events: [],
          marks: [],
        });
    browser = await launchChromium({
      viewport: { width: 1600, height: 900 },
      acceptDownloads: true,
      timezoneId: 'Asia/Shanghai',
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
    await waitForDevices(page, 2);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const stats = () => testHook(page, (q) => (q.history as unknown as History).stats);
  const waitStats = (until: (s: Stats) => unknown, timeout = 10_000) =>
    waitFor('history stats', async () => until(await stats()), timeout, 50);
  const localInput = (ms: number) => {
    const d = new Date(ms + 8 * 3_600_000); // Beijing time, as the datetime-local inputs show it
    return d.toISOString().slice(0, 16);
  };

  it('the history view: a day of one tank in 1,000 round buckets', async () => {
    await page.click('[data-mode=history]');
    await page.selectOption('[data-role=device]', `${GW}.tank-1`);
    await page.selectOption('[data-role=field]', 'level');
    await page.fill('[data-role=from]', localInput(T_END - 86_400_000));
    await page.fill('[data-role=to]', localInput(T_END));
    await page.click('[data-role=load]');
    await waitStats((s) => !s.loading && s.points > 0);
    const s = await stats();
    expect(s.bucketMs).toBe(120_000); // 86.4 s rounded up to 2 minutes: answered from the rollups
    expect(s.points).toBeGreaterThanOrEqual(719);
    expect(s.points).toBeLessThanOrEqual(721);
    expect(await page.locator('.history-chart canvas').count()).toBeGreaterThan(0);
  });

  it('100,000 points drawn and zoomed smoothly; two tanks compared', async () => {
    // 1,666 minutes (the inputs take minutes): 99,960 one-second buckets.
    await page.fill('[data-role=from]', localInput(T_END - 99_960_000));
    await page.fill('[data-role=to]', localInput(T_END));
    await page.selectOption('[data-role=points]', '100000');
    await page.click('[data-role=load]');
    await waitStats((s) => !s.loading && (s.points >= 99_000 || s.error), 30_000).catch(async (e) => {
      throw new Error(
        `${e} ${JSON.stringify(await stats())} ${await page.locator('[data-role=status]').innerText()}`,
      );
    });
    const full = await stats();
    expect(full.error).toBeUndefined();
    expect(full.bucketMs).toBe(1000);
    expect(full.points).toBeGreaterThanOrEqual(99_900);
    expect(full.drawMs).toBeLessThan(1500);
    // Zoom in and out ten times: each redraw of 100k points well inside a frame budget on this machine.
    const zooms = await testHook(
      page,
      (q, [a, b]: [number, number]) => {
        const h = q.history as unknown as History;
        const out: number[] = [];
        for (let i = 0; i < 10; i++) out.push(h.zoom(a + i * 3_600_000, b), h.zoom(a, b));
        return out;
      },
      [T_START, T_END] as [number, number],
    );
    zooms.sort((x, y) => x - y);
    expect(zooms[Math.floor(zooms.length * 0.95)]).toBeLessThan(100);

    await page.selectOption('[data-role=compare]', `${GW}.tank-2`);
    await page.click('[data-role=load]');
    await waitStats((s) => !s.loading && s.series === 2, 30_000);
    expect((await stats()).points).toBeGreaterThanOrEqual(199_800);
    if (process.env.QLY_SCREENSHOT) await page.screenshot({ path: process.env.QLY_SCREENSHOT });
    // Series named by device, village and metric with its unit — not by key and raw field.
    const legend = await page.locator('.u-legend').innerText();
    expect(legend).toContain(`水位 1 · ${SITE} · level (m)`);
    expect(legend).toContain(`水位 2 · ${SITE} · level (m)`);
    expect(legend).not.toContain(GW);
  });

  it('CSV export: local (Beijing) and UTC times, both tanks’ columns', async () => {
    await page.selectOption('[data-role=points]', '1000');
    await page.click('[data-role=load]');
    await waitStats((s) => !s.loading && s.points < 3000);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-role=csv]')]);
    const path = join(dir, 'history.csv');
    await download.saveAs(path);
    const lines = readFileSync(path, 'utf8')
      .replace(/^\ufeff/, '')
      .trim()
      .split('\r\n');
    // Headed in words (the officer's language), not device keys; values as a person reads them.
    const series = (n: number) =>
      ['平均', '最小', '最大', '样本数'].map((c) => `水位 ${n} · ${SITE} · level (m) · ${c}`).join(',');
    expect(lines[0]).toBe(`本地时间,UTC 时间,${series(1)},${series(2)}`);
    for (const line of lines.slice(1, 50))
      for (const cell of line.split(',').slice(2)) expect(cell, line).toMatch(/^(-?\d+(\.\d{1,3})?)?$/); // 2.48, never 2.4800000000000004
    expect(lines.length).toBeGreaterThan(500);
    const [local, utc, avg] = (lines[5] as string).split(',');
    expect(Date.parse(`${local?.replace(' ', 'T')}+08:00`)).toBe(Date.parse(utc as string));
    expect(Number(avg)).toBeGreaterThanOrEqual(2);
    expect(Number(avg)).toBeLessThanOrEqual(4);
  });

  it('"last day" ends now, not when the page was opened: after three hours open, the view still ends within a minute of now', async () => {
    const late = await browser.newPage();
    // The page's clock runs on, as on a wall screen left open through a shift.
    await late.clock.install();
    await late.goto(hub.baseUrl);
    await signIn(late, 'admin', ADMIN_PASSWORD);
    await waitForDevices(late, 2);
    await late.clock.fastForward('03:00:00');
    await late.getByRole('button', { name: '历史曲线' }).click();
    const preset = late.locator('[data-range=d1]');
    expect(await preset.getAttribute('aria-pressed')).toBe('true');
    const [shown, now] = await Promise.all([
      late.inputValue('[data-role=to]'),
      late.evaluate(() => Date.now()),
    ]);
    // The input shows local minutes (Beijing time here).
    expect(Math.abs(Date.parse(`${shown}:00+08:00`) - now)).toBeLessThan(60_000);
    await late.close();
  });

  it('recorded no console errors', async () => {
    await waitFor('settled', async () => !(await stats()).loading, 5000);
    expect(errors).toEqual([]);
  });
});
