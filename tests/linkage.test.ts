/**
 * Linkage through real parts: an ONVIF camera simulator raises an intrusion (PullPoint event) → the
 * edge agent → MQTT → an alarm → the automatic rule → an incident → the plan: the nearest cameras
 * (the one that saw it first), the PTZ camera turned to the rule's preset through the command path,
 * and a warning spoken (TTS on the gateway, G.711 RTP) at the nearest loudspeaker simulator — not at
 * the far one. A dashboard socket hears the plan; the incident's timeline has it. A village operator
 * of another village cannot read or change the incident (403).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncidentView, LinkagePlan } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Recording, SpeakerSimulator } from '../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { systemBinary } from './support/system.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'v-link';
const GW = 'gw-link';
const CAM_PASSWORD = 'cam-secret-1';
const SPOT = { lat: 30.05, lon: 119.95 };

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))(
  'linkage: alarm → incident → cameras and a spoken warning',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'qly-linkage-'));
    let hub: TestHub;
    let edge: EdgeProcess;
    let gate: CameraSimulator;
    let bridge: CameraSimulator;
    const near = new SpeakerSimulator({ recordDir: dir, volume: 100, silenceGapMs: 600 });
    const far = new SpeakerSimulator({ recordDir: dir, volume: 100, silenceGapMs: 600 });
    let socket: Socket;
    const plans: LinkagePlan[] = [];
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
      return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
    };

    beforeAll(async () => {
      gate = new CameraSimulator({ credentials: { username: 'admin', password: CAM_PASSWORD }, fps: 5 });
      bridge = new CameraSimulator({
        credentials: { username: 'admin', password: CAM_PASSWORD },
        fps: 5,
        ptz: false,
      });
      gate.ptz?.presets.set('road', {
        token: 'road',
        name: '路口',
        position: { pan: 120, tilt: -10, zoom: 2 },
      });
      await gate.start();
      await bridge.start();
      await near.start();
      await far.start();
      hub = await startTestHub({
        config: {
          linkage: {
            rules: [
              {
                id: 'intrusion-auto',
                name: '入侵自动预警',
                when: { types: ['intrusion'], sites: [SITE] },
                actions: {
                  incident: { category: 'intrusion', priority: 'high' },
                  cameras: { count: 2, maxDistanceM: 1000, preset: 'road' },
                  broadcast: { mode: 'auto', text: '有人闯入，请立即离开', count: 1, maxDistanceM: 1000 },
                  notify: true,
                },
              },
            ],
          },
        },
      });
      admin = await hub.token();
      writeFileSync(join(dir, 'cam.pw'), CAM_PASSWORD);
      const camera = (
        id: string,
        sim: CameraSimulator,
        position: { lat: number; lon: number },
        heading: number,
      ) => ({
        type: 'onvif-camera',
        id,
        name: id,
        position,
        heading,
        fov: 60,
        xaddr: sim.xaddr,
        username: 'admin',
        passwordFile: join(dir, 'cam.pw'),
        healthIntervalMs: 1000,
      });
      const speaker = (id: string, sim: SpeakerSimulator, position: { lat: number; lon: number }) => ({
        type: 'ip-speaker',
        id,
        name: id,
        position,
        rtp: sim.rtpUrl,
        controlUrl: sim.controlUrl,
      });
      edge = new EdgeProcess(
        {
          gateway: { id: GW, site: SITE },
          mqtt: { url: hub.brokerUrl },
          video: { hubUrl: hub.baseUrl },
          devices: [
            camera('cam-gate', gate, SPOT, 0),
            // 300 m south, looking north at the spot: sees it, but is farther.
            camera('cam-bridge', bridge, { lat: SPOT.lat - 0.0027, lon: SPOT.lon }, 0),
            speaker('spk-near', near, { lat: SPOT.lat + 0.0005, lon: SPOT.lon }),
            speaker('spk-far', far, { lat: SPOT.lat + 0.05, lon: SPOT.lon }),
          ],
        },
        await hub.provisionGateway(GW, SITE),
      );
      edge.start();
      await waitFor(
        'cameras and speakers ready',
        () =>
          hub.app.registry.getDevice(`${GW}.cam-gate`)?.capabilities.includes('ptz') &&
          hub.app.registry.getDevice(`${GW}.cam-bridge`)?.capabilities.includes('event.intrusion') &&
          hub.app.registry.getDevice(`${GW}.spk-near`)?.status === 'online' &&
          hub.app.registry.getDevice(`${GW}.spk-far`)?.status === 'online',
        30_000,
      );
      socket = io(hub.baseUrl, {
        path: '/socket.io',
        auth: { token: admin },
        transports: ['websocket'],
        reconnection: false,
      });
      socket.on('linkage', (l: { plan: LinkagePlan }) => plans.push(l.plan));
      await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
      // The camera's event subscription is live before anything is triggered.
      await new Promise((r) => setTimeout(r, 2000));
    }, 90_000);

    afterAll(async () => {
      socket?.disconnect();
      await edge?.stop();
      await hub?.close();
      await gate?.stop();
      await bridge?.stop();
      await near.stop();
      await far.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('an intrusion at the gate camera: incident, nearest cameras, preset, warning at the nearest speaker', async () => {
      const started = Date.now();
      gate.trigger('intrusion', true);
      const heard: Recording = await waitFor(
        'warning heard at the nearest speaker',
        () => near.recordings.find((r) => r.firstPacketAt >= started),
        20_000,
        20,
      );
      const alarmToWarningMs = heard.firstPacketAt - started;
      console.log(`camera event → warning audio at the speaker: ${alarmToWarningMs} ms`);
      expect(alarmToWarningMs).toBeLessThan(10_000);

      const plan = await waitFor('the plan on the dashboard socket', () =>
        plans.find((p) => p.rule === 'intrusion-auto'),
      );
      expect(plan.cameras.map((c) => c.key)).toEqual([`${GW}.cam-gate`, `${GW}.cam-bridge`]);
      expect(plan.cameras[0]).toMatchObject({ inView: true, preset: 'road' });
      expect(plan.cameras[1]).toMatchObject({ inView: true });
      expect(plan.cameras[1]?.preset).toBeUndefined(); // a fixed camera cannot turn
      expect(plan.speakers.map((s) => s.key)).toEqual([`${GW}.spk-near`]);
      expect(plan.broadcast).toMatchObject({ mode: 'started', text: '有人闯入，请立即离开' });
      expect(plan.notified).toEqual([SITE]);

      // The PTZ camera turned to the preset (the simulator's head is there).
      await waitFor('camera at the preset', () => {
        const p = gate.ptz?.tick();
        return p && Math.abs(p.pan - 120) < 1 && Math.abs(p.zoom - 2) < 0.1;
      });

      // The incident, with the alarm, the device, the place and the plan in its timeline.
      const list = (await api('/api/incidents', admin)).body as unknown as IncidentView[];
      const incident = list.find((i) => i.source === 'rule');
      expect(incident).toMatchObject({
        category: 'intrusion',
        priority: 'high',
        site: SITE,
        status: 'new',
        devices: [`${GW}.cam-gate`],
        location: SPOT,
      });
      expect(plan.incident).toBe(incident?.id);
      const full = (await api(`/api/incidents/${incident?.id}`, admin)).body as unknown as IncidentView;
      expect(full.events?.map((e) => e.action)).toEqual(expect.arrayContaining(['created', 'linked']));
      // The whole plan is in the timeline: a dashboard opening the incident later shows it.
      expect(full.events?.find((e) => e.action === 'linked')?.data?.plan).toEqual(plan);

      // Nothing reached the far speaker.
      await new Promise((r) => setTimeout(r, 1000));
      expect(far.recordings.filter((r) => r.firstPacketAt >= started)).toEqual([]);
    });

    it('a village operator of another village can neither read nor change it (403); one of this village can', async () => {
      const incident = (
        (await api('/api/incidents', admin)).body as unknown as IncidentView[]
      )[0] as IncidentView;
      const mk = async (username: string, sites: string[]) => {
        const res = await api('/api/users', admin, {
          username,
          password: 'operator-password-1',
          role: 'village_operator',
          sites,
        });
        expect(res.status).toBe(201);
        return hub.token(username, 'operator-password-1');
      };
      const other = await mk('op-other', ['v-other']);
      const mine = await mk('op-link', [SITE]);
      expect((await api(`/api/incidents/${incident.id}`, other)).status).toBe(403);
      expect(
        (await api(`/api/incidents/${incident.id}/transitions`, other, { action: 'accept' })).status,
      ).toBe(403);
      expect(((await api('/api/incidents', other)).body as unknown as unknown[]).length).toBe(0);
      // Nor name this village's camera in an incident of its own (a town officer attaching its
      // snapshot there would hand the picture to the other village).
      const foreign = await api('/api/incidents', other, {
        title: '借用摄像头',
        category: 'other',
        priority: 'low',
        site: 'v-other',
        devices: [`${GW}.cam-gate`],
      });
      expect(foreign.status).toBe(400);
      expect(String(foreign.body.message)).toMatch(/no device gw-link\.cam-gate in your sites/);
      const accepted = await api(`/api/incidents/${incident.id}/transitions`, mine, { action: 'accept' });
      expect(accepted.status).toBe(200);
      expect(accepted.body.status).toBe('accepted');
      const bad = await api(`/api/incidents/${incident.id}/transitions`, mine, {
        action: 'close',
        feedback: 'x',
      });
      expect(bad.status).toBe(409);
      expect(String(bad.body.message)).toMatch(/cannot close .* it is accepted/);
    });

    it('the one-click link on an incident made by hand proposes the nearest speaker and starts nothing by itself', async () => {
      const created = await api('/api/incidents', admin, {
        title: '桥头有人落水',
        category: 'rescue',
        priority: 'urgent',
        site: SITE,
        location: { lat: SPOT.lat - 0.0027, lon: SPOT.lon },
      });
      expect(created.status).toBe(201);
      const before = Date.now();
      const linked = await api(`/api/incidents/${created.body.id}/link`, admin, {});
      expect(linked.status).toBe(200);
      const plan = linked.body as unknown as LinkagePlan;
      expect(plan.cameras[0]?.key).toBe(`${GW}.cam-bridge`);
      expect(plan.broadcast).toMatchObject({ mode: 'proposed' });
      expect(plan.speakers[0]?.key).toBe(`${GW}.spk-near`);
      await new Promise((r) => setTimeout(r, 1500));
      expect(near.recordings.filter((r) => r.firstPacketAt >= before)).toEqual([]);
      // The officer confirms the proposal: now it is spoken.
      const go = await api(`/api/incidents/${created.body.id}/link/broadcast`, admin, {
        speakers: plan.speakers.map((s) => s.key),
        text: (plan.broadcast as { text: string }).text,
      });
      expect(go.status).toBe(200);
      await waitFor('proposal spoken', () => near.recordings.find((r) => r.firstPacketAt >= before), 20_000);
    });
  },
);
