/**
 * The duty officer's screen from a 1366×768 laptop to a 3840×2160 wall, in chromium, read from the
 * page's boxes and computed styles (no test hook): a real hub, an edge agent process running a
 * simulated village whose cameras push video, a gateway's real uplink raising an intrusion, and an
 * incident with its linkage plan open.
 *  - at 1366×768, 1920×1080 and 3840×2160: axe-core finds no WCAG 2 A/AA violation in the command
 *    view and the incident view; the visible regions (header, sidebar, the stage's panels, the
 *    device panel, the map's legend) do not overlap and stay on screen; tiles, the map and the
 *    incident board keep a usable size (the old 1366 layout with a device open: 186 px tiles, a 286 px
 *    map beside the board; an offline gateway's badge at 3.6:1 contrast);
 *  - on the wall the sidebar and every visible text grow with the screen (the old wall: 280 px
 *    sidebar, 14 px text);
 *  - the alarm centre, the availability report and the alarm rules view: no violation, no overlap,
 *    on screen at every size, their text as large as the rest on the wall;
 *  - in English at 1366×768 nothing in the alarm list or the device filters is clipped.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { topics } from '@qianliyan/protocols';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, signIn } from './support/browser.ts';
import { waitForDevices } from './support/dashboard.ts';
import { EdgeProcess } from './support/edge.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { startUplink } from './support/uplink.ts';
import { waitFor } from './support/wait.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SITE = 'demo-village';
const GW = 'gw-layout';
const ALARM_GW = 'gw-layout-b';
const CENTER = { lat: 30.042, lon: 119.951 };
/** What the page lists: the village's cameras, speakers, sensors and drone, and the alarm's sensor. */
const LISTED = 4 + 2 + 2 + 1 + 1;

type Box = { name: string; x: number; y: number; w: number; h: number };

/** The regions an officer sees side by side; none may cover another. */
const REGIONS: Record<string, string> = {
  header: '.topbar',
  sidebar: '.sidebar',
  'device panel': '.panel:not([hidden])',
  'map legend': '.legend',
};

/** The visible regions' boxes: the fixed ones and every panel the stage shows. */
function regions(page: Page): Promise<Box[]> {
  return page.evaluate((fixed) => {
    const out: Array<{ name: string; x: number; y: number; w: number; h: number }> = [];
    const add = (name: string, el: Element | null) => {
      if (!el) return;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return;
      out.push({ name, x: r.x, y: r.y, w: r.width, h: r.height });
    };
    for (const [name, selector] of Object.entries(fixed)) add(name, document.querySelector(selector));
    for (const el of document.querySelectorAll<HTMLElement>('.stage > [data-panel]'))
      add(`stage: ${el.dataset.panel}`, el);
    return out;
  }, REGIONS);
}

/** Pairs of regions that overlap by more than a pixel (the legend lies on the map, by design). */
function overlaps(boxes: Box[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]] as [Box, Box];
      if ([a.name, b.name].includes('map legend') && [a.name, b.name].includes('stage: map')) continue;
      const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
      const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      if (w > 1 && h > 1) out.push(`${a.name} × ${b.name}: ${Math.round(w)}×${Math.round(h)} px`);
    }
  return out;
}

/** Regions reaching outside the viewport. */
function offScreen(boxes: Box[], width: number, height: number): string[] {
  return boxes
    .filter((b) => b.x < -1 || b.y < -1 || b.x + b.w > width + 1 || b.y + b.h > height + 1)
    .map((b) => `${b.name} at ${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.w)}×${Math.round(b.h)}`);
}

/** Visible texts on screen set smaller than `min` px: "font-size px · element: text". */
function textsBelow(page: Page, min: number): Promise<string[]> {
  return page.evaluate((least) => {
    const out = new Set<string>();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent?.trim();
      const el = node.parentElement;
      if (!text || !el) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const r = range.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right < 0 || r.bottom < 0 || r.left > innerWidth || r.top > innerHeight) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || Number(style.opacity) === 0) continue;
      const px = Number.parseFloat(style.fontSize);
      if (px < least)
        out.add(`${px} px · ${el.tagName.toLowerCase()}.${el.classList[0] ?? ''}: ${text.slice(0, 30)}`);
    }
    return [...out];
  }, min);
}

describe.skipIf(!systemBinary(CHROMIUM, 'chromium') || !systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))(
  'the layout from a 1366×768 laptop to a 3840×2160 wall',
  () => {
    let hub: TestHub;
    let edge: EdgeProcess;
    let incident: number;
    const browsers: BrowserContext[] = [];

    beforeAll(async () => {
      hub = await startTestHub();
      edge = new EdgeProcess(
        {
          gateway: { id: GW, site: SITE },
          mqtt: { url: hub.brokerUrl },
          video: { hubUrl: hub.baseUrl },
          simulation: {
            center: CENTER,
            cameras: 4,
            speakers: 2,
            sensors: 2,
            drones: 1,
            intervalMs: 1000,
            seed: 11,
          },
        },
        await hub.provisionGateway(GW, SITE),
      );
      edge.start();
      await waitFor(
        'the simulated village registered',
        () => hub.app.registry.listDevices().length === 9,
        30_000,
      );
      // An intrusion at another gateway's sensor: an open alarm (with its buttons) and a rule's incident.
      const uplink = await startUplink(
        hub.brokerUrl,
        SITE,
        ALARM_GW,
        await hub.provisionGateway(ALARM_GW, SITE),
      );
      uplink.send(topics.meta(SITE, ALARM_GW, 'gate'), {
        ts: Date.now(),
        kind: 'sensor',
        name: '村口红外',
        position: CENTER,
        capabilities: [],
      });
      uplink.send(topics.event(SITE, ALARM_GW, 'gate'), {
        ts: Date.now(),
        type: 'intrusion',
        severity: 'critical',
      });
      await uplink.drained();
      await uplink.close();
      const admin = await hub.token();
      incident = await waitFor('the rule made an incident', async () => {
        const res = await fetch(`${hub.baseUrl}/api/incidents`, {
          headers: { authorization: `Bearer ${admin}` },
        });
        return ((await res.json()) as Array<{ id: number; source: string }>).find((i) => i.source === 'rule')
          ?.id;
      });
    }, 90_000);

    // One test's browsers at a time: a 3840×2160 page is heavy on a small machine.
    afterEach(async () => {
      for (const b of browsers.splice(0)) await b.close();
    });

    afterAll(async () => {
      await edge?.stop();
      await hub?.close();
    });

    const open = async (width: number, height: number): Promise<Page> => {
      const browser = await launchChromium({ viewport: { width, height } });
      browsers.push(browser);
      const page = await browser.newPage();
      await page.goto(hub.baseUrl);
      await signIn(page, 'admin', ADMIN_PASSWORD);
      await waitForDevices(page, LISTED);
      await page.locator('.alarms li').first().waitFor();
      return page;
    };

    const audit = async (page: Page) => {
      await page.evaluate(AXE);
      return page.evaluate(async () => {
        const axe = (
          window as unknown as {
            axe: {
              run(
                ctx: Document,
                o: object,
              ): Promise<{ violations: Array<{ id: string; nodes: Array<{ target: string[] }> }> }>;
            };
          }
        ).axe;
        const result = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] });
        return result.violations.map((v) => `${v.id} (${v.nodes.length}): ${v.nodes[0]?.target.join(' ')}`);
      });
    };

    /** Shows a view and waits for its panels to be laid out. */
    const show = async (page: Page, view: string) => {
      await page.click(`[data-mode=${view}]`);
      await page.waitForFunction(
        (v) =>
          document.querySelector(`[data-mode=${v}]`)?.getAttribute('aria-pressed') === 'true' &&
          [...document.querySelectorAll<HTMLElement>('.stage > [data-panel]')].some(
            (p) => p.getBoundingClientRect().width > 0,
          ),
        view,
      );
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    };

    const box = (boxes: Box[], name: string) => boxes.find((b) => b.name === name);

    for (const [width, height] of [
      [1366, 768],
      [1920, 1080],
      [3840, 2160],
    ] as const) {
      it(`${width}×${height}: no WCAG A/AA violation, no overlapping regions, usable tiles, map and incident`, async () => {
        const page = await open(width, height);
        // A camera's panel open beside the stage, as an officer works.
        await page.locator('.device', { hasText: '摄像头 01' }).click();
        await page.locator('.panel:not([hidden]) h2').waitFor();
        const report: Record<string, unknown> = {};
        for (const view of ['map', 'split', 'wall']) {
          await show(page, view);
          const boxes = await regions(page);
          report[view] = boxes.map((b) => `${b.name} ${Math.round(b.w)}×${Math.round(b.h)}`);
          expect.soft(overlaps(boxes), `${view} view`).toEqual([]);
          expect.soft(offScreen(boxes, width, height), `${view} view`).toEqual([]);
        }
        // The split view's tiles: even halves left a 2×2 wall's tiles at 186 px on the old laptop layout.
        await show(page, 'split');
        const tiles = await page.$$eval('.tile', (els) => els.map((t) => t.getBoundingClientRect().width));
        report.tiles = tiles.map(Math.round);
        expect
          .soft(Math.min(...tiles), 'a 2×2 wall tile')
          .toBeGreaterThanOrEqual(Math.max(220, width * 0.15));
        expect.soft(await audit(page), 'command view').toEqual([]);

        // The incident view with the rule's incident and its plan open.
        await show(page, 'incidents');
        await page.click(`.incident[data-id="${incident}"]`);
        await page.locator('.ib-timeline li').first().waitFor();
        const boxes = await regions(page);
        report.incidents = boxes.map((b) => `${b.name} ${Math.round(b.w)}×${Math.round(b.h)}`);
        expect.soft(overlaps(boxes), 'incident view').toEqual([]);
        expect.soft(offScreen(boxes, width, height), 'incident view').toEqual([]);
        const map = box(boxes, 'stage: map') as Box;
        const board = box(boxes, 'stage: incidents') as Box;
        // A map one can read beside the board (the old laptop layout: 125 px), and the legend on
        // it covering at most a quarter of it (folded on a small map).
        expect.soft(map.w, 'the map beside the board').toBeGreaterThanOrEqual(300);
        expect.soft(map.h, 'the map beside the board').toBeGreaterThanOrEqual(300);
        const legend = box(boxes, 'map legend');
        if (legend)
          expect
            .soft((legend.w * legend.h) / (map.w * map.h), 'the legend’s share of the map')
            .toBeLessThanOrEqual(0.25);
        expect.soft(board.w, 'the incident board').toBeGreaterThanOrEqual(Math.min(420, width * 0.3));
        expect.soft(await audit(page), 'incident view').toEqual([]);

        // The alarm centre (with an alarm's timeline open), the availability report and the rules.
        for (const view of ['alarmCentre', 'availability', 'alarmRules']) {
          await show(page, view);
          if (view === 'alarmCentre') {
            await page.locator('.alarm-centre [data-open]').first().click();
            await page.locator('.ac-timeline li').first().waitFor();
          }
          // (The report, or its "no record yet" when the hub's health record is still empty.)
          if (view === 'availability') await page.locator('.av-chart > *').first().waitFor();
          if (view === 'alarmRules') await page.locator('.rl-form [name=name]').waitFor();
          const boxes = await regions(page);
          report[view] = boxes.map((b) => `${b.name} ${Math.round(b.w)}×${Math.round(b.h)}`);
          expect.soft(overlaps(boxes), `${view} view`).toEqual([]);
          expect.soft(offScreen(boxes, width, height), `${view} view`).toEqual([]);
          expect.soft(await audit(page), `${view} view`).toEqual([]);
        }
        console.log(`${width}×${height}`, JSON.stringify(report));
      }, 120_000);
    }

    it('on the 3840×2160 wall the sidebar and every visible text grow with the screen', async () => {
      const laptop = await open(1366, 768);
      const wall = await open(3840, 2160);
      for (const page of [laptop, wall]) {
        await page.locator('.device', { hasText: '摄像头 01' }).click();
        await page.locator('.panel:not([hidden]) h2').waitFor();
      }
      const sidebar = async (page: Page) => (await page.locator('.sidebar').boundingBox())?.width ?? 0;
      const [small, large] = [await sidebar(laptop), await sidebar(wall)];
      // The old wall kept the laptop's 280 px: a sliver of a 3840 screen.
      expect(large).toBeGreaterThanOrEqual(3840 * 0.13);
      expect(large / small).toBeGreaterThanOrEqual(1.6);
      for (const view of ['map', 'split', 'incidents', 'alarmCentre', 'availability', 'alarmRules']) {
        await show(wall, view);
        if (view === 'incidents') {
          await wall.click(`.incident[data-id="${incident}"]`);
          await wall.locator('.ib-timeline li').first().waitFor();
        }
        if (view === 'alarmCentre') await wall.locator('.alarm-centre [data-alarm-row]').first().waitFor();
        if (view === 'availability') await wall.locator('.av-chart > *').first().waitFor();
        // At least 18 px on the wall (a 1366 laptop's 14 px text is 39 px there at the same share of
        // the screen): the old wall's 14 px text and 11 px captions could not be read across a room.
        expect(await textsBelow(wall, 18), `${view} view`).toEqual([]);
      }
    }, 120_000);

    it('in English at 1366×768 nothing in the alarm list or the device filters is clipped', async () => {
      const page = await open(1366, 768);
      await page.getByRole('button', { name: 'English' }).click();
      await page.getByRole('button', { name: 'Acknowledge' }).first().waitFor();
      const clipped = await page.evaluate(() => {
        const out: string[] = [];
        for (const el of document.querySelectorAll<HTMLElement>('.alarms button, .alarms li *')) {
          if (el.getClientRects().length === 0) continue;
          if (el.scrollWidth > el.clientWidth + 1) out.push(el.textContent ?? '');
        }
        // A select's text does not scroll: measure its chosen option against its inner width.
        const ctx = document.createElement('canvas').getContext('2d') as CanvasRenderingContext2D;
        for (const select of document.querySelectorAll<HTMLSelectElement>('.sidebar select')) {
          const style = getComputedStyle(select);
          ctx.font = `${style.fontSize} ${style.fontFamily}`;
          const text = select.selectedOptions[0]?.text ?? '';
          const inner =
            select.clientWidth -
            Number.parseFloat(style.paddingLeft) -
            Number.parseFloat(style.paddingRight) -
            // the drop-down arrow
            Number.parseFloat(style.fontSize);
          if (ctx.measureText(text).width > inner) out.push(text);
        }
        return out;
      });
      expect(clipped).toEqual([]);
    });
  },
);
