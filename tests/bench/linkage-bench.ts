/**
 * `npm run bench:linkage` — two figures of the emergency loop, medians over BENCH_ROUNDS (5):
 *  - alarm → warning: an ONVIF camera simulator raises an intrusion (PullPoint) → the edge agent
 *    process → the hub process → alarm → automatic linkage rule → incident → TTS broadcast → the
 *    gateway speaks it as G.711 RTP → the first packet decoded at the loudspeaker simulator;
 *  - call setup: the duty officer's page dials a village; the village terminal (a second chromium
 *    with a fake camera) answers as soon as it rings; until both decode the other's video.
 * Ends with one JSON line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlarmView, CallView } from '@qianliyan/protocols';
import type { BrowserContext, Page } from 'playwright-core';
import { SpeakerSimulator } from '../../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { CameraSimulator } from '../../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { BenchHub } from '../support/bench-hub.ts';
import { launchChromium } from '../support/browser.ts';
import { EdgeProcess } from '../support/edge.ts';
import { sleep, waitFor } from '../support/wait.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SITE = 'demo-village';
const GW = 'gw-bench-link';
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;

const dir = mkdtempSync(join(tmpdir(), 'qly-bench-linkage-'));
let hub: BenchHub | undefined;
const camera = new CameraSimulator({ credentials: { username: 'admin', password: 'cam-bench-1' }, fps: 5 });
const speaker = new SpeakerSimulator({ recordDir: dir, volume: 100, silenceGapMs: 400 });
let edge: EdgeProcess | undefined;
const browsers: BrowserContext[] = [];
try {
  hub = await BenchHub.start(dir, {
    linkage: {
      rules: [
        {
          id: 'bench-intrusion',
          name: '入侵自动预警',
          when: { types: ['intrusion'] },
          actions: {
            incident: { category: 'intrusion', priority: 'high' },
            cameras: { count: 2, maxDistanceM: 1000 },
            broadcast: { mode: 'auto', text: '有人闯入，请立即离开', count: 1, maxDistanceM: 1000 },
          },
        },
      ],
    },
  });
  await camera.start();
  await speaker.start();
  const { base } = hub;
  const call = async (path: string, token: string, body?: unknown) =>
    (hub as BenchHub).api(path, body, token);
  const admin = hub.token;
  const gw = { password: await hub.registerGateway(GW, SITE) };
  writeFileSync(join(dir, 'cam.pw'), 'cam-bench-1');
  edge = new EdgeProcess(
    {
      gateway: { id: GW, site: SITE },
      mqtt: { url: hub.mqttUrl },
      video: { hubUrl: base },
      logLevel: 'warn',
      devices: [
        {
          type: 'onvif-camera',
          id: 'cam',
          name: '村口摄像头',
          position: { lat: 30.042, lon: 119.951 },
          heading: 0,
          fov: 60,
          xaddr: camera.xaddr,
          username: 'admin',
          passwordFile: join(dir, 'cam.pw'),
        },
        {
          type: 'ip-speaker',
          id: 'spk',
          name: '村口大喇叭',
          position: { lat: 30.0425, lon: 119.951 },
          rtp: speaker.rtpUrl,
          controlUrl: speaker.controlUrl,
        },
      ],
    },
    gw.password as string,
  );
  edge.start();
  await waitFor(
    'camera and speaker online',
    async () => {
      const list = (await call('/api/devices', admin)) as unknown as Array<{
        key: string;
        status: string;
        capabilities: string[];
      }>;
      return (
        list.find((d) => d.key === `${GW}.cam`)?.capabilities.includes('event.intrusion') &&
        list.find((d) => d.key === `${GW}.spk`)?.status === 'online'
      );
    },
    60_000,
  );
  await sleep(2000);

  const alarmToWarning: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = Date.now();
    camera.trigger('intrusion', true);
    const heard = await waitFor(
      'warning heard',
      () => speaker.recordings.find((r) => r.firstPacketAt >= started),
      30_000,
      10,
    );
    alarmToWarning.push(heard.firstPacketAt - started);
    camera.trigger('intrusion', false);
    // Acknowledged, so that the next intrusion is a new alarm (repeats within a minute are counted into one).
    const { alarms } = (await call('/api/alarms?open=true', admin)) as unknown as { alarms: AlarmView[] };
    for (const a of alarms) await call(`/api/alarms/${a.id}/ack`, admin, {});
    await waitFor(
      'warning over',
      () => Date.now() - (speaker.recordings.at(-1)?.lastPacketAt ?? 0) > 800,
      30_000,
    );
    await sleep(1500);
  }

  // Calls: the officer's page and the village terminal in two chromium instances.
  for (const [username, role, sites] of [
    ['bench-officer', 'duty_officer', []],
    ['bench-cun', 'village_operator', [SITE]],
  ] as const)
    await call('/api/users', admin, { username, password: `${username}-password-1`, role, sites });
  const open = async (username: string) => {
    const browser = await launchChromium({ viewport: { width: 1600, height: 900 }, media: true });
    browsers.push(browser);
    const page = await browser.newPage();
    await page.goto(base);
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', `${username}-password-1`);
    await page.click('button[type=submit]');
    await page.waitForFunction(
      () => (window as unknown as { __qlyTest?: { calls?: unknown } }).__qlyTest?.calls,
    );
    return page;
  };
  const officer = await open('bench-officer');
  const village = await open('bench-cun');
  type Status = { call?: CallView; peers: Array<{ framesDecoded: number }> };
  const status = (page: Page) =>
    page.evaluate(() =>
      (
        window as unknown as { __qlyTest: { calls: { status(): Promise<unknown> } } }
      ).__qlyTest.calls.status(),
    ) as Promise<Status>;
  const callSetup: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = Date.now();
    await officer.evaluate((site) => {
      void (
        window as unknown as { __qlyTest: { calls: { start(t: object): Promise<unknown> } } }
      ).__qlyTest.calls.start({ sites: [site] });
    }, SITE);
    await village.waitForSelector('.call-panel[data-state=ringing] [data-call=accept]', { timeout: 10_000 });
    await village.click('[data-call=accept]');
    await waitFor(
      'both decoding',
      async () =>
        ((await status(officer)).peers[0]?.framesDecoded ?? 0) > 0 &&
        ((await status(village)).peers[0]?.framesDecoded ?? 0) > 0,
      20_000,
      20,
    );
    callSetup.push(Date.now() - started);
    await officer.click('[data-call=hangup]');
    await waitFor('ended', async () => !(await status(village)).call && !(await status(officer)).call);
    await sleep(500);
  }

  console.log(
    `alarm → warning at the speaker (automatic rule): ${alarmToWarning.join(', ')} ms; median ${median(alarmToWarning)} ms (target < 3000)`,
  );
  console.log(
    `call setup, dial → both decoding video: ${callSetup.join(', ')} ms; median ${median(callSetup)} ms (target < 2000)`,
  );
  console.log(
    JSON.stringify({
      bench: 'linkage',
      alarm_to_warning_ms: median(alarmToWarning),
      call_setup_ms: median(callSetup),
    }),
  );
} finally {
  for (const b of browsers) await b.close();
  await edge?.stop('SIGTERM');
  await hub?.stop();
  await camera.stop();
  await speaker.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
