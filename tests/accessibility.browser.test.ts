/**
 * An automated accessibility check (axe-core, WCAG 2 A and AA rules) on the login view and on the
 * command view with a live simulated village, in chromium; the alarm centre, availability and alarm
 * rule views too.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.ts';
import { waitForDevices } from './support/dashboard.ts';
import { EdgeProcess } from './support/edge.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
type Violation = { id: string; impact: string; nodes: number; example: string };

describe.skipIf(!systemBinary(CHROMIUM, 'chromium'))('accessibility (axe-core)', () => {
  let hub: TestHub;
  let edge: EdgeProcess;
  let browser: BrowserContext;
  let page: Page;

  const audit = async (): Promise<Violation[]> => {
    // Evaluated by the test harness (not a page script), so the page's CSP stays as it is.
    await page.evaluate(AXE);
    return page.evaluate(async () => {
      const axe = (
        window as unknown as {
          axe: {
            run(
              ctx: Document,
              o: object,
            ): Promise<{
              violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }>;
            }>;
          };
        }
      ).axe;
      const result = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        nodes: v.nodes.length,
        example: v.nodes[0]?.target.join(' ') ?? '',
      }));
    });
  };

  beforeAll(async () => {
    hub = await startTestHub();
    edge = new EdgeProcess(
      {
        gateway: { id: 'gw-a11y', site: 'demo-village' },
        mqtt: { url: hub.brokerUrl },
        simulation: {
          center: { lat: 30.042, lon: 119.951 },
          cameras: 0,
          speakers: 1,
          sensors: 3,
          drones: 0,
          intervalMs: 1000,
          seed: 5,
        },
      },
      await hub.provisionGateway('gw-a11y', 'demo-village'),
    );
    edge.start();
    browser = await launchChromium({ viewport: { width: 1600, height: 900 } });
    page = await browser.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
    await hub?.close();
  });

  it('the login view has no WCAG A/AA violation', async () => {
    await page.goto(hub.baseUrl);
    await page.waitForSelector('input[name=username]');
    expect(await audit()).toEqual([]);
  });

  it('the command view, with live devices, an alarm list and the site tree, has none either', async () => {
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await waitForDevices(page, 4);
    await page.waitForSelector('.site-node');
    expect(await audit()).toEqual([]);
  });

  it('the alarm centre, the availability report and the alarm rules form have none either', async () => {
    await page.click('[data-mode=alarmCentre]');
    await page.waitForSelector('.alarm-centre [data-role=count]:not(:empty)');
    expect(await audit()).toEqual([]);
    await page.click('[data-mode=availability]');
    await page.waitForSelector('.av-chart > *');
    expect(await audit()).toEqual([]);
    await page.click('[data-mode=alarmRules]');
    await page.waitForSelector('.rl-form [name=name]');
    // With a mistake shown beside its field, as an administrator meets it.
    await page.click('[data-role=save]');
    await page.waitForSelector('[data-error-for="name"]:not([hidden])');
    expect(await audit()).toEqual([]);
  });

  it('the incident board with an incident open, and the village terminal, have none either', async () => {
    const admin = await hub.token();
    const post = (path: string, body: unknown) =>
      fetch(`${hub.baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { id: number } }));
    const incident = await post('/api/incidents', {
      title: '河堤渗水',
      category: 'flood',
      priority: 'urgent',
      site: 'demo-village',
      location: { lat: 30.043, lon: 119.952 },
    });
    expect(incident.status).toBe(201);
    await page.click('[data-mode=incidents]');
    await page.click(`.incident[data-id="${incident.body.id}"]`);
    await page.waitForSelector('.ib-timeline li');
    // The KPIs by village, opened (the demo village's row, one incident, none accepted yet).
    await page.waitForSelector('.ib-kpi-table tr[data-site="demo-village"]', { state: 'attached' });
    await page.click('.ib-kpi-table summary');
    expect(await page.textContent('.ib-kpi-table tr[data-site="demo-village"] td:nth-child(2)')).toBe('1');
    expect(await audit()).toEqual([]);
    expect(
      (
        await post('/api/users', {
          username: 'a11y-cun',
          password: 'a11y-cun-password',
          role: 'village_operator',
          sites: ['demo-village'],
        })
      ).status,
    ).toBe(201);
    await page.click('[data-role=logout]');
    await page.fill('input[name=username]', 'a11y-cun');
    await page.fill('input[name=password]', 'a11y-cun-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-role=call-room]');
    await page.click(`.incident[data-id="${incident.body.id}"]`);
    await page.waitForSelector('.ib-timeline li');
    expect(await audit()).toEqual([]);
  });
});
