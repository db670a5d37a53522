/**
 * Video calls between the command room and villages in chromium (fake camera and microphone):
 * from an incident, from the site tree and a gateway's card ("call this village"), a county–town–village mesh, a missed
 * call, and another village's operator refused. Placed and answered through the page; the peers'
 * decoded frames come from the test build's hook (no page shows them).
 */
import { type CallView, type IncidentView, topics } from '@qianliyan/protocols';
import type { BrowserContext, Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, signIn } from './support/browser.ts';
import { testHook, waitForHooks } from './support/dashboard.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { CHROMIUM, systemBinary } from './support/system.ts';
import { startUplink } from './support/uplink.ts';
import { waitFor } from './support/wait.ts';

const VILLAGE = 'demo-village';

interface CallStatus {
  call?: CallView;
  ringing?: CallView;
  peers: Array<{ username: string; state: string; framesDecoded: number }>;
}
const status = (page: Page) =>
  testHook(page, (q) => (q.calls as unknown as { status(): Promise<CallStatus> }).status());

describe.skipIf(!systemBinary(CHROMIUM, 'chromium'))(
  'video calls between the command room and a village',
  () => {
    let hub: TestHub;
    const browsers: BrowserContext[] = [];
    let officer: Page;
    let village: Page;
    const problems: string[] = [];
    let admin: string;

    const api = async (path: string, token: string, body?: unknown) => {
      const res = await fetch(`${hub.baseUrl}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json().catch(() => ({}))) as unknown };
    };
    const open = async (username: string, password: string, hash = '') => {
      const browser = await launchChromium({ viewport: { width: 1600, height: 900 }, media: true });
      browsers.push(browser);
      const page = await browser.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`${username}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`${username}: ${e}`));
      await page.goto(`${hub.baseUrl}/${hash}`);
      await signIn(page, username, password);
      await waitForHooks(page);
      return page;
    };

    beforeAll(async () => {
      hub = await startTestHub({ config: { calls: { ringTimeoutMs: 5000 } } });
      admin = await hub.token();
      for (const [username, role, sites] of [
        ['officer', 'duty_officer', []],
        ['cun', 'village_operator', [VILLAGE]],
        ['dongshan-op', 'village_operator', ['dongshan']],
        ['town-officer', 'duty_officer', ['qianli-town']],
      ] as const) {
        const res = await api('/api/users', admin, {
          username,
          password: `${username}-password-1`,
          role,
          sites,
        });
        expect(res.status).toBe(201);
      }
      officer = await open('officer', 'officer-password-1');
      village = await open('cun', 'cun-password-1');
      await village.waitForSelector('[data-role=call-room]');
    }, 90_000);

    afterAll(async () => {
      for (const b of browsers) await b.close();
      await hub?.close();
    });

    it('the officer calls the village from an incident; both decode video; hang-up ends it on both sides', async () => {
      const created = await api('/api/incidents', admin, {
        title: '山体滑坡隐患',
        category: 'rescue',
        site: VILLAGE,
      });
      expect(created.status).toBe(201);
      const incident = created.body as IncidentView;
      await officer.click('[data-mode=incidents]');
      await officer.click(`.incident[data-id="${incident.id}"]`);
      await officer.waitForSelector('.ib-tools [data-role=call]');
      const dialed = Date.now();
      await officer.click('.ib-tools [data-role=call]');
      await village.waitForSelector('.call-panel[data-state=ringing] [data-call=accept]', {
        timeout: 10_000,
      });
      expect(await village.textContent('.call-head')).toContain('officer');
      await village.click('[data-call=accept]');
      const decoding = async (page: Page) => ((await status(page)).peers[0]?.framesDecoded ?? 0) > 0;
      await waitFor(
        'both sides decode video',
        async () => (await decoding(officer)) && (await decoding(village)),
        20_000,
        50,
      );
      console.log(`dial → both decoding video: ${Date.now() - dialed} ms`);
      const [o, v] = [await status(officer), await status(village)];
      expect(o.call?.state).toBe('active');
      expect(o.peers.map((p) => p.username)).toEqual(['cun']);
      expect(v.peers.map((p) => p.username)).toEqual(['officer']);
      expect(o.call?.incident).toBe(incident.id);

      await officer.click('[data-call=hangup]');
      await waitFor('ended on the village side', async () => {
        const s = await status(village);
        return !s.call && s.peers.length === 0;
      });
      expect((await status(officer)).call).toBeUndefined();
      const log = (await api('/api/calls', admin)).body as CallView[];
      const call = log.find((c) => c.incident === incident.id);
      expect(call).toMatchObject({ state: 'ended', from: 'officer', joined: ['officer', 'cun'] });
      expect((call?.endedAt ?? 0) - (call?.answeredAt ?? 0)).toBeGreaterThan(0);
      const timeline =
        ((await api(`/api/incidents/${incident.id}`, admin)).body as IncidentView).events ?? [];
      expect(timeline.find((e) => e.action === 'call')?.data).toMatchObject({
        state: 'ended',
        participants: ['officer', 'cun'],
      });
    });

    it('"call this village" on the site tree rings the village; after hanging up, each side’s last-call card names the other side and closes', async () => {
      // The old dashboard could call a village only from inside an incident.
      await officer.getByRole('button', { name: '视频呼叫 千里村' }).click();
      await village.waitForSelector('.call-panel[data-state=ringing] [data-call=accept]', {
        timeout: 10_000,
      });
      await village.click('[data-call=accept]');
      await officer.waitForSelector('.call-panel[data-state=active]', { timeout: 20_000 });
      expect(await officer.textContent('.call-head')).toContain('cun');
      await officer.click('[data-call=hangup]');
      // The officer's card names the village called, the village's names the officer who called.
      await officer.waitForFunction(() =>
        document.querySelector('.call-head')?.textContent?.startsWith('上次通话：千里村'),
      );
      await village.waitForFunction(() =>
        document.querySelector('.call-head')?.textContent?.startsWith('上次通话：officer · 指挥中心'),
      );
      for (const page of [officer, village]) {
        await page.getByRole('button', { name: '关闭上次通话信息' }).click();
        await page.waitForSelector('.call-panel', { state: 'hidden' });
      }
    });

    it('"call this village" on a gateway’s card rings that gateway’s village', async () => {
      // The old gateway card had no call: a village was called from an incident or the site tree.
      const uplink = await startUplink(
        hub.brokerUrl,
        VILLAGE,
        'gw-calls',
        await hub.provisionGateway('gw-calls', VILLAGE),
      );
      uplink.send(
        topics.state(VILLAGE, 'gw-calls'),
        { ts: Date.now(), online: true, heartbeatMs: 10_000, devices: [] },
        true,
      );
      await uplink.drained();
      const card = officer.locator('.gateway[data-gateway="gw-calls"]');
      await card.waitFor({ timeout: 15_000 });
      await card.getByRole('button', { name: '视频呼叫 千里村' }).click();
      await village.waitForSelector('.call-panel[data-state=ringing] [data-call=accept]', {
        timeout: 10_000,
      });
      await village.click('[data-call=accept]');
      await officer.waitForSelector('.call-panel[data-state=active]', { timeout: 20_000 });
      expect(await officer.textContent('.call-head')).toContain('cun');
      await officer.click('[data-call=hangup]');
      await officer.waitForFunction(() =>
        document.querySelector('.call-head')?.textContent?.startsWith('上次通话：千里村'),
      );
      await village.waitForFunction(() =>
        document.querySelector('.call-head')?.textContent?.startsWith('上次通话'),
      );
      for (const page of [officer, village]) {
        await page.getByRole('button', { name: '关闭上次通话信息' }).click();
        await page.waitForSelector('.call-panel', { state: 'hidden' });
      }
      await uplink.close();
    });

    it('a county–town–village call: three in a mesh, each decodes the other two; it goes on when one leaves', async () => {
      const town = await open('town-officer', 'town-officer-password-1');
      await officer.click('[data-call-site="demo-village"]');
      // The village terminal and the town's officer (whose scope covers the village) both ring.
      await village.waitForSelector('.call-panel[data-state=ringing] [data-call=accept]');
      await town.waitForSelector('.call-panel[data-state=ringing] [data-call=accept]');
      await village.click('[data-call=accept]');
      await town.click('[data-call=accept]');
      const decodingAll = async (page: Page, n: number) => {
        const s = await status(page);
        return s.peers.length === n && s.peers.every((p) => p.framesDecoded > 0);
      };
      await waitFor(
        'everyone decodes the other two',
        async () =>
          (await decodingAll(officer, 2)) && (await decodingAll(village, 2)) && (await decodingAll(town, 2)),
        30_000,
        100,
      );
      expect((await status(town)).peers.map((p) => p.username).sort()).toEqual(['cun', 'officer']);
      await officer.click('[data-call=hangup]');
      await waitFor(
        'town and village go on together',
        async () => (await decodingAll(village, 1)) && (await decodingAll(town, 1)),
      );
      expect((await status(village)).call?.state).toBe('active');
      await village.click('[data-call=hangup]');
      await waitFor('ended for the town too', async () => !(await status(town)).call);
      const log = (await api('/api/calls', admin)).body as CallView[];
      expect(log[0]).toMatchObject({ state: 'ended', joined: ['officer', 'cun', 'town-officer'] });
      await town.close();
    });

    it('a village call nobody answers rings in the command room, then is logged as missed', async () => {
      await village.click('[data-role=call-room]');
      await officer.waitForSelector('.call-panel[data-state=ringing]', { timeout: 10_000 });
      expect(await officer.textContent('.call-head')).toContain('cun');
      // A dashboard opened while the call rings rings too.
      const late: Socket = io(hub.baseUrl, {
        path: '/socket.io',
        auth: { token: await hub.token('officer', 'officer-password-1') },
        transports: ['websocket'],
        reconnection: false,
      });
      const lateRings: CallView[] = [];
      late.on('call:ring', (c: CallView) => lateRings.push(c));
      try {
        await waitFor('the late page rings', () => lateRings.length === 1);
        expect(lateRings[0]).toMatchObject({ from: 'cun', state: 'ringing' });
      } finally {
        late.close();
      }
      await waitFor(
        'missed',
        async () =>
          ((await api('/api/calls', admin)).body as CallView[]).some(
            (c) => c.from === 'cun' && c.state === 'missed',
          ),
        15_000,
      );
      await officer
        .waitForSelector('.call-panel[data-state=ringing]', { state: 'detached', timeout: 5000 })
        .catch(() => undefined);
      expect((await status(officer)).ringing).toBeUndefined();
      expect((await status(village)).call).toBeUndefined();
    });

    it('another village’s operator can neither answer nor signal into a call (refused and counted)', async () => {
      const token = await hub.token('dongshan-op', 'dongshan-op-password-1');
      const intruder: Socket = io(hub.baseUrl, {
        path: '/socket.io',
        auth: { token },
        transports: ['websocket'],
        reconnection: false,
      });
      const errors: Array<{ code: string }> = [];
      const rings: CallView[] = [];
      intruder.on('call:error', (e: { code: string }) => errors.push(e));
      intruder.on('call:ring', (c: CallView) => rings.push(c));
      await new Promise<void>((r) => intruder.on('connect', () => r()));
      // The officer calls the demo village; the other village's terminal does not ring.
      await officer.click('[data-call-site="demo-village"]');
      await village.waitForSelector('.call-panel[data-state=ringing]');
      const call = (await status(officer)).call as CallView;
      const before = await hub.metric('qly_socket_refused_total', { reason: 'call_forbidden' });
      intruder.emit('call:accept', { call: call.id });
      intruder.emit('call:signal', {
        call: call.id,
        to: call.participants[0]?.socket,
        data: { candidate: null },
      });
      intruder.emit('call:start', { sites: ['demo-village'] }, () => undefined);
      await waitFor('three refusals', () => errors.length >= 3);
      expect(errors.every((e) => e.code === 'HUB_ERR_FORBIDDEN')).toBe(true);
      expect(rings).toEqual([]);
      expect(await hub.metric('qly_socket_refused_total', { reason: 'call_forbidden' })).toBe(
        (before || 0) + 3,
      );
      expect((hub.app.calls.get(call.id) as CallView).participants).toHaveLength(1);
      intruder.emit('call:signal', {
        call: call.id,
        to: 'x',
        data: { sdp: { type: 'offer', sdp: 'x'.repeat(30_000) } },
      });
      await waitFor('oversize signal refused', () => errors.length >= 4);
      // Nor may they show a camera in it; a participant may not show one that does not exist.
      intruder.emit('call:camera', { call: call.id, camera: null });
      await waitFor('camera share refused', () => errors.length >= 5);
      expect(errors[4]?.code).toBe('HUB_ERR_FORBIDDEN');
      await testHook(officer, (q) =>
        (q.calls as unknown as { shareCamera(k: string): void }).shareCamera('gw-none.cam'),
      );
      // Refused by the hub, and said in the officer's language (not the hub's English).
      await officer.waitForFunction(() =>
        document.querySelector('[data-role=call-msg]')?.textContent?.includes('呼叫失败'),
      );
      expect(await officer.textContent('[data-role=call-msg]')).toContain('未找到');
      expect(hub.app.calls.get(call.id)?.camera).toBeNull();
      intruder.disconnect();
      await officer.click('[data-call=hangup]');
      await waitFor('village stops ringing', async () => !(await status(village)).ringing);
      expect(problems).toEqual([]);
    });
  },
);
