/**
 * The alarm centre in chromium, driven through the page as an officer does (no production hook),
 * against a real hub, a real edge agent process running a simulated village (its gateway is killed
 * and restarted for the availability report) and a gateway speaking the MQTT contract that raises
 * motion noise and intrusions:
 *  - a critical alarm plays its tone (distinct from a warning's) and is pinned above motion noise;
 *  - a re-notification sounds again; "mute for 10 minutes" (keyboard) silences new alarms, counts
 *    down, and ends by itself (the page's clock moved by playwright);
 *  - a hidden tab gets a desktop notification, a visible one does not; the title and favicon carry
 *    the count;
 *  - the alarm centre: filter, select, bulk acknowledge with a note; an alarm's timeline with its
 *    re-notifications and escalation;
 *  - the rule form: an error beside its field in the officer's language, the 24 h preview's figure,
 *    the rule saved;
 *  - the availability report's figures match the outage the test caused (gateway killed for six
 *    hours of the hub's alarm clock), in the table and in the CSV.
 * The tones and notifications are observed through spies the test installs in the page before it
 * loads (AudioContext, Notification, the visibility state): test-side, not production hooks.
 */
import { readFileSync } from 'node:fs';
import { type AlarmView, topics } from '@qianliyan/protocols';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, signIn } from './support/browser.ts';
import { requireTestBuild, waitForDevices } from './support/dashboard.ts';
import { EdgeProcess } from './support/edge.ts';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { cameraMeta, startVillageGateway, type VillageGateway } from './support/village-gateway.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GW = 'gw-ac';
const NOISE = 'gw-ac-noise';
/** The noise comes from another village: the availability test counts only the simulated one's. */
const NOISE_SITE = 'dongshan';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CHINA = 8 * HOUR;
/** The simulated village: one camera, two water-level stations. */
const SIM_DEVICES = 3;
const NOISE_CAMS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'];

type Tone = { type: string; freq: number };
type Spied = { tones: Tone[]; notes: Array<{ title: string; body: string }> };

/** Installed before the page loads: records every oscillator started and notification shown. */
function spies(): void {
  const w = window as unknown as {
    __spied: Spied;
    __setHidden: (hidden: boolean) => void;
  };
  w.__spied = { tones: [], notes: [] };
  const create = BaseAudioContext.prototype.createOscillator;
  BaseAudioContext.prototype.createOscillator = function (this: BaseAudioContext) {
    const osc = create.call(this);
    const start = osc.start.bind(osc);
    osc.start = (when?: number) => {
      w.__spied.tones.push({ type: osc.type, freq: osc.frequency.value });
      start(when);
    };
    return osc;
  };
  const Real = window.Notification;
  class Spy extends Real {
    constructor(title: string, options?: NotificationOptions) {
      w.__spied.notes.push({ title, body: options?.body ?? '' });
      super(title, options);
    }
  }
  Object.defineProperty(Spy, 'permission', { get: () => Real.permission });
  Object.defineProperty(Spy, 'requestPermission', { value: Real.requestPermission.bind(Real) });
  (window as unknown as { Notification: unknown }).Notification = Spy;
  let hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true,
    get: () => (hidden ? 'hidden' : 'visible'),
  });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
  w.__setHidden = (h: boolean) => {
    hidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  };
}

describe.skipIf(!systemBinary(CHROMIUM, 'chromium'))('the alarm centre in chromium', () => {
  let hub: TestHub;
  let edge: EdgeProcess;
  let noise: VillageGateway;
  let browser: BrowserContext;
  let page: Page;
  let seq = 5000;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const consoleErrors: string[] = [];

  const spied = () => page.evaluate(() => (window as unknown as { __spied: Spied }).__spied);
  const event = async (device: string, type: string, severity: string): Promise<AlarmView> => {
    const since = Date.now();
    await noise.client.publishAsync(
      topics.event(NOISE_SITE, NOISE, device),
      JSON.stringify({ seq: ++seq, epoch: `test-${NOISE}`, ts: Date.now(), type, severity }),
      { qos: 1 },
    );
    return waitFor(`${type} alarm on ${device}`, () =>
      hub.app.alarms
        .list({ device: `${NOISE}.${device}`, type, limit: 1 })
        .find((a) => a.ackedAt === null && a.lastTs >= since - 1000),
    );
  };
  /** The rows of the sidebar's alarm list, top to bottom. */
  const rows = () =>
    page.$$eval('.alarms li.alarm', (items) =>
      items.map((li) => ({
        id: Number((li as HTMLElement).dataset.alarm),
        severity: (li as HTMLElement).dataset.severity,
        pinned: li.classList.contains('pinned'),
        text: li.textContent?.replace(/\s+/g, ' ').trim() ?? '',
      })),
    );
  const shows = (id: number, timeout = 10_000) =>
    page.waitForSelector(`.alarms li.alarm[data-alarm="${id}"]`, { timeout });

  beforeAll(async () => {
    requireTestBuild();
    hub = await startTestHub({ config: { alarms: { healthStartupGraceMs: 0 } } });
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: hub.brokerUrl },
        simulation: {
          center: { lat: 30.042, lon: 119.951 },
          cameras: 1,
          speakers: 0,
          sensors: 2,
          drones: 0,
          intervalMs: 500,
          seed: 7,
        },
      },
      await hub.provisionGateway(GW, SITE),
    );
    edge.start();
    noise = await startVillageGateway(
      hub,
      NOISE,
      NOISE_SITE,
      Object.fromEntries(
        NOISE_CAMS.map((c, i) => [
          c,
          { ...cameraMeta(`路口摄像头 ${i + 1}`), position: { lat: 30.046 + i * 0.0003, lon: 119.972 } },
        ]),
      ),
    );
    // Its heartbeat, as a gateway's agent sends it (silent for two periods, it would go stale).
    heartbeat = setInterval(() => {
      void noise.client.publishAsync(
        topics.state(NOISE_SITE, NOISE),
        JSON.stringify({
          seq: ++seq,
          epoch: `test-${NOISE}`,
          ts: Date.now(),
          online: true,
          heartbeatMs: 60_000,
          devices: NOISE_CAMS,
        }),
        { qos: 1, retain: true },
      );
    }, 20_000);
    await waitFor(
      'the simulated village registered',
      () => hub.app.registry.listDevices().filter((d) => d.key.startsWith(`${GW}.`)).length === SIM_DEVICES,
      30_000,
    );
    await waitFor('health armed', () => {
      hub.app.alarmScheduler.tick();
      return hub.app.health.isArmed;
    });
    // Setting up, each gateway was offline for a moment before its session began (a critical
    // 网关离线, cleared, still unacknowledged): acknowledged here, so the page starts from a quiet room.
    const admin = await hub.token();
    const blips = hub.app.alarms.list({ open: true, limit: 100 }).map((a) => a.id);
    if (blips.length > 0) {
      const res = await hub.app.inject({
        method: 'POST',
        url: '/api/alarms/ack',
        headers: { authorization: `Bearer ${admin}` },
        payload: { ids: blips, note: '测试准备' },
      });
      expect(res.statusCode).toBe(200);
    }
    browser = await launchChromium({
      viewport: { width: 1600, height: 900 },
      permissions: ['notifications'],
      acceptDownloads: true,
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    await page.addInitScript(spies);
    // The page's clock, for the mute's ten minutes: it runs as usual until the test moves it.
    await page.clock.install();
    await page.goto(hub.baseUrl);
    await signIn(page, 'admin', ADMIN_PASSWORD);
    await waitForDevices(page, SIM_DEVICES + NOISE_CAMS.length);
  }, 90_000);

  afterAll(async () => {
    clearInterval(heartbeat);
    await browser?.close();
    await noise?.close();
    await edge?.stop();
    await hub?.close();
  });

  it('a critical alarm plays its own tone and is pinned above the motion noise', async () => {
    for (const cam of NOISE_CAMS.slice(0, 4)) await shows((await event(cam, 'motion', 'warning')).id);
    await waitFor('the warning tone', async () =>
      (await spied()).tones.some((t) => t.type === 'sine' && t.freq === 440),
    );
    const before = (await spied()).tones.length;
    const intrusion = await event('c2', 'intrusion', 'critical');
    await shows(intrusion.id);
    // More motion after it: newer, and still below it.
    for (const cam of NOISE_CAMS.slice(4)) await shows((await event(cam, 'motion', 'warning')).id);
    const list = await rows();
    expect(list[0]).toMatchObject({ id: intrusion.id, severity: 'critical', pinned: true });
    expect(list[0]?.text).toContain('区域入侵');
    expect(list.slice(1).filter((r) => r.severity === 'critical' || r.pinned)).toEqual([]);
    expect(list.filter((r) => r.text.includes('移动侦测')).length).toBeGreaterThanOrEqual(NOISE_CAMS.length);
    // The critical tone: a square-wave siren, 988/740 Hz — not the warning's soft 440 Hz sine.
    const after = (await spied()).tones.slice(before);
    expect(after.filter((t) => t.type === 'square').map((t) => t.freq)).toEqual([
      988, 740, 988, 740, 988, 740,
    ]);
    // The title and favicon carry the count of alarms wanting an officer.
    await page.waitForFunction((n) => document.title.startsWith(`（${n}）`), list.length);
    const icon = await page.getAttribute('link[rel=icon]', 'href');
    expect(decodeURIComponent(icon ?? '')).toContain(`>${list.length}</text>`);
    // The one action: acknowledge and open an incident.
    const motion = list[list.length - 1] as { id: number };
    await page.click(`.alarms li.alarm[data-alarm="${motion.id}"] [data-role=ack-incident]`);
    await page.waitForSelector(`.alarms li.alarm[data-alarm="${motion.id}"]`, { state: 'detached' });
    const acked = hub.app.alarms.get(motion.id);
    expect(acked).toMatchObject({ ackedBy: 'admin', state: 'cleared' });
    expect(acked?.incident).toBeGreaterThan(0);
    await page.waitForSelector(`.incident[data-id="${acked?.incident}"]`);
    await page.click('[data-mode=split]');
  });

  it('re-notification sounds; mute for 10 minutes (keyboard) silences new alarms, counts down and ends by itself', async () => {
    // Unacknowledged for five minutes of the hub's clock: re-notified, and heard again.
    const intrusion = hub.app.alarms.list({ type: 'intrusion', limit: 1 })[0] as AlarmView;
    const heard = (await spied()).tones.length;
    hub.app.alarmClock.advance(5 * 60_000 + 1000);
    hub.app.alarmScheduler.tick();
    await waitFor('re-notified', () => (hub.app.alarms.get(intrusion.id)?.renotified ?? 0) > 0);
    await waitFor('the re-notification sounds', async () =>
      (await spied()).tones.slice(heard).some((t) => t.type === 'square'),
    );

    const mute = page.locator('[data-role=mute]');
    expect(await mute.textContent()).toBe('静音 10 分钟');
    await mute.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() =>
      /^已静音 (10:00|9:5\d)/.test(document.querySelector('[data-role=mute]')?.textContent ?? ''),
    );
    expect(await mute.getAttribute('aria-pressed')).toBe('true');
    const before = (await spied()).tones.length;
    // Five minutes later on the page's clock: still muted, the countdown says so. (The jump may
    // drop the page's live socket at its next heartbeat, as a laptop waking from sleep does; the
    // list reloads what came meanwhile, so the alarm shows either way.)
    await page.clock.setSystemTime(Date.now() + 5 * 60_000 + 2000);
    await page.waitForFunction(() =>
      /^已静音 4:5\d/.test(document.querySelector('[data-role=mute]')?.textContent ?? ''),
    );
    const tamper = await event('c3', 'tamper', 'critical');
    await shows(tamper.id, 45_000);
    await page.waitForTimeout(500); // (the tone would be scheduled within 150 ms of the alarm)
    expect((await spied()).tones.slice(before)).toEqual([]);
    // Ten minutes after muting: sound is back, by itself.
    await page.clock.setSystemTime(Date.now() + 10 * 60_000 + 4000);
    await page.waitForFunction(
      () => document.querySelector('[data-role=mute]')?.textContent === '静音 10 分钟',
    );
    expect(await mute.getAttribute('aria-pressed')).toBe('false');
    const crossing = await event('c6', 'line_crossing', 'critical');
    await shows(crossing.id, 45_000);
    await waitFor('the critical tone again', async () =>
      (await spied()).tones.slice(before).some((t) => t.type === 'square'),
    );
  }, 180_000);

  it('a hidden tab gets a desktop notification; a visible one does not', async () => {
    expect(await page.textContent('[data-role=notify]')).toBe('桌面通知已开启');
    const shown = (await spied()).notes.length;
    expect(shown).toBe(0); // every alarm so far came while the tab was visible
    await page.evaluate(() => (window as unknown as { __setHidden(h: boolean): void }).__setHidden(true));
    const intrusion = await event('c5', 'intrusion', 'critical');
    await waitFor('a notification', async () => (await spied()).notes.length > shown);
    const note = (await spied()).notes[shown];
    expect(note?.title).toBe('严重：路口摄像头 5 · 区域入侵');
    await page.evaluate(() => (window as unknown as { __setHidden(h: boolean): void }).__setHidden(false));
    await shows(intrusion.id);
  });

  it('the alarm centre: filter, bulk acknowledge with a note, and an alarm’s timeline', async () => {
    await page.click('[data-mode=alarmCentre]');
    await page.waitForSelector('.alarm-centre [data-alarm-row]');
    await page.selectOption('.ac-filters select[name=severity]', 'warning');
    await page.selectOption('.ac-filters select[name=state]', 'active');
    await page.click('.ac-filters button[type=submit]');
    const warnings = hub.app.alarms
      .list({ severities: ['warning'], states: ['active'], limit: 100 })
      .map((a) => a.id);
    expect(warnings.length).toBeGreaterThanOrEqual(5);
    await page.waitForFunction(
      (n) => document.querySelectorAll('.alarm-centre [data-alarm-row]').length === n,
      warnings.length,
    );
    await page.check('[data-role=select-all]');
    expect(await page.textContent('[data-role=bulk-ack]')).toBe(`批量确认（${warnings.length}）`);
    await page.fill('.ac-bulk textarea[name=note]', '已电话联系村委会，系路口车辆');
    await page.click('[data-role=bulk-ack]');
    await page.waitForFunction(
      (n) => document.querySelector('[data-role=bulk-result]')?.textContent === `已确认 ${n} 条，跳过 0 条`,
      warnings.length,
    );
    for (const id of warnings)
      expect(hub.app.alarms.get(id)).toMatchObject({
        ackedBy: 'admin',
        ackNote: '已电话联系村委会，系路口车辆',
      });
    // They left the sidebar's list; the alarms above warnings stay.
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLElement>('.alarms li.alarm')].every(
        (li) => li.dataset.severity !== 'warning',
      ),
    );
    // The timeline of the tamper alarm: re-notified and escalated while nobody acknowledged it
    // (ten minutes of the hub's clock at the village's level).
    const tamperAlarm = hub.app.alarms.list({ type: 'tamper', limit: 1 })[0] as AlarmView;
    for (let i = 0; i < 2; i++) {
      hub.app.alarmClock.advance(5 * 60_000 + 1000);
      hub.app.alarmScheduler.tick();
    }
    await waitFor('escalated', () => (hub.app.alarms.get(tamperAlarm.id)?.escalations ?? 0) > 0);
    await page.selectOption('.ac-filters select[name=severity]', 'critical');
    await page.selectOption('.ac-filters select[name=state]', '');
    await page.selectOption('.ac-filters select[name=type]', 'tamper');
    await page.click('.ac-filters button[type=submit]');
    const tamper = hub.app.alarms.list({ type: 'tamper', limit: 1 })[0] as AlarmView;
    await page.click(`[data-open="${tamper.id}"]`);
    await page.waitForSelector('.ac-timeline li[data-action=escalated]');
    const steps = await page.$$eval('.ac-timeline li', (lis) =>
      lis.map((li) => (li as HTMLElement).dataset.action),
    );
    expect(steps.slice(0, 2)).toEqual(['raised', 'renotified']);
    expect(steps).toContain('escalated');
    const escalated = await page.textContent('.ac-timeline li[data-action=escalated]');
    expect(escalated).toMatch(/升级：.+ → .+/);
    expect(escalated).not.toMatch(/[a-z]+_[a-z]+|demo-village/); // names, not ids
  });

  it('the rule form: an error beside its field, the 24 h preview, the rule saved', async () => {
    await page.click('[data-mode=alarmRules]');
    await page.waitForSelector('.rl-form');
    // Nothing typed: the name's message sits beside the name, in Chinese.
    await page.click('[data-role=save]');
    expect(await page.textContent('[data-error-for="name"]')).toBe('请填写规则名称');
    expect(await page.getAttribute('.rl-form [name=name]', 'aria-invalid')).toBe('true');
    await page.fill('.rl-form [name=name]', '村内水位监测');
    await page.selectOption('.rl-form [name=type]', 'absence');
    await page.fill('.rl-form [name="absence.forMs"]', '0.05');
    await page.click('[data-role=preview]');
    expect(await page.textContent('[data-error-for="absence.forMs"]')).toBe('持续时间超出允许范围');
    // A threshold every stored reading is above: each station's level fires once and never clears.
    await page.selectOption('.rl-form [name=type]', 'threshold');
    await page.selectOption('.rl-form [name="condition.field"]', 'water_level');
    await page.selectOption('.rl-form [name=op]', 'above');
    await page.fill('.rl-form [name="condition.value"]', '-1000');
    await page.selectOption('.rl-form [name="scope.site"]', SITE);
    await hub.app.timeseries.sync();
    const stations = hub.app.registry
      .listDevices()
      .filter((d) => d.site === SITE && typeof d.values.water_level === 'number');
    expect(stations.length).toBe(2);
    await page.click('[data-role=preview]');
    await page.waitForSelector('[data-role=fires]');
    expect(await page.getAttribute('[data-role=fires]', 'data-fires')).toBe(String(stations.length));
    expect(await page.textContent('[data-role=fires]')).toMatch(
      new RegExp(`^过去 24 小时内会触发 ${stations.length} 次（检查了 \\d+ 台设备）$`),
    );
    // Below every reading: never.
    await page.selectOption('.rl-form [name=op]', 'below');
    await page.click('[data-role=preview]');
    await page.waitForSelector('[data-role=fires][data-fires="0"]');
    await page.fill('.rl-form [name="condition.value"]', '9');
    await page.fill('.rl-form [name="action.speak.text"]', '水位异常，请注意');
    await page.click('[data-role=save]');
    await page.waitForSelector('.rl-rule:has-text("村内水位监测")');
    const saved = hub.app.readingRules.list().find((r) => r.name === '村内水位监测');
    expect(saved).toMatchObject({
      scope: { site: SITE },
      condition: { type: 'threshold', field: 'water_level', op: 'below', value: 9 },
      action: { speak: { text: '水位异常，请注意' } },
    });
    await page.click('[data-mode=split]');
  });

  it('the availability report’s figures match the outage the test caused', async () => {
    // Tomorrow's midnight in China, ahead of now, so the hub's alarm clock only moves forward.
    const day0 = Math.floor((Date.now() + CHINA) / DAY) * DAY - CHINA + DAY;
    const dayName = (ts: number) => new Date(ts + CHINA).toISOString().slice(0, 10);
    hub.app.alarmClock.set(day0 + 6 * HOUR);
    await edge.stop('SIGKILL'); // the gateway's session ends: its last will
    const outage = await waitFor('the gateway’s health alarm', () =>
      hub.app.alarms.list({ device: GW, sources: ['health'], limit: 1 }).find((a) => a.clearedAt === null),
    );
    expect(outage.type).toBe('health.gateway_offline');
    hub.app.alarmClock.set(day0 + 12 * HOUR);
    edge.start();
    const back = await waitFor(
      'the gateway back',
      () => {
        const a = hub.app.alarms.get(outage.id);
        return a?.clearedAt !== null ? a : undefined;
      },
      30_000,
    );
    const offlineMs = back?.durationMs as number;
    expect(offlineMs).toBeGreaterThanOrEqual(6 * HOUR - 2000);
    expect(offlineMs).toBeLessThan(6 * HOUR + 60_000);
    hub.app.alarmClock.set(day0 + DAY + 12 * HOUR);

    await page.click('[data-mode=availability]');
    await page.selectOption('.av-controls select[name=days]', '7');
    await page.selectOption('.av-controls select[name=site]', SITE);
    await page.click('.av-controls button[type=submit]');
    const cell = (day: string, kind: string, what: string) =>
      page.textContent(
        `.av-daily tr[data-day="${day}"][data-site="${SITE}"][data-kind="${kind}"] td.${what}`,
      );
    await page.waitForSelector(`.av-daily tr[data-day="${dayName(day0 + DAY)}"][data-kind=gateway]`);
    // The village's only gateway: six hours of its day.
    expect(await cell(dayName(day0), 'gateway', 'devices')).toBe('1');
    const rate = (1 - offlineMs / DAY) * 100;
    const expected = `${rate.toFixed(1)}%`;
    expect(expected).toBe('75.0%');
    expect(await cell(dayName(day0), 'gateway', 'rate')).toBe(expected);
    expect(await cell(dayName(day0), 'gateway', 'offline')).toBe(String(Math.round(offlineMs / 60_000)));
    // The devices behind it were unseen as long (the duty room could not see them either).
    expect(await cell(dayName(day0), 'camera', 'rate')).toBe(expected);
    expect(await cell(dayName(day0 + DAY), 'gateway', 'rate')).toBe('100.0%');
    // The chart draws a line per village and kind; the summary names the village, not its id.
    expect(await page.locator('.av-svg g.series').count()).toBeGreaterThanOrEqual(3);
    expect(await page.textContent('.av-table[data-role=summary]')).not.toContain(SITE);
    // The CSV says the same, with headers in words.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('.availability [data-role=csv]'),
    ]);
    const csv = readFileSync((await download.path()) as string, 'utf8');
    const lines = csv.replace(/^\ufeff/, '').split('\r\n');
    expect(lines[0]).toBe('日期,村,设备类型,设备数,在线率 (%),离线（分钟）');
    const line = lines.find((l) => l.startsWith(dayName(day0)) && l.includes(',网关,'));
    expect(line?.split(',').slice(4)).toEqual([rate.toFixed(2), String(Math.round(offlineMs / 60_000))]);
  }, 90_000);

  it('recorded no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
