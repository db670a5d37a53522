/**
 * A gateway speaks only for its own village. The hostile case, through real parts: a gateway of
 * 东山村 (its own credential, the real outbox and uplink) places a "smoke sensor" at 千里村's
 * coordinates and raises "fire". 千里村's three loudspeakers are real RTP receivers behind a real edge
 * agent, and an automatic linkage rule would speak an evacuation order at the nearest ones. The
 * descriptor is refused (`outside_site`), and when the sensor sits legitimately inside 东山村 right
 * by the border, the rule acts as 东山村 — it reaches no 千里村 loudspeaker, and 东山村's operator sees
 * what it did.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LinkagePlan, topics } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeakerSimulator } from '../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { systemBinary } from './support/system.ts';
import { startUplink } from './support/uplink.ts';
import { sleep, waitFor } from './support/wait.ts';

const QIANLI = 'demo-village'; // 千里村: its outline is in the shipped base map
const DONGSHAN = 'dongshan'; // 东山村: a centre only, 2 km east
/** Inside 千里村, where its loudspeakers hang. */
const SQUARE = { lat: 30.045, lon: 119.955 };

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))(
  'a gateway speaks only for its own village',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'qly-trust-'));
    const speakers = [0, 1, 2].map(() => new SpeakerSimulator({ recordDir: dir, volume: 100 }));
    let hub: TestHub;
    let edge: EdgeProcess;
    let rogue: Awaited<ReturnType<typeof startUplink>>;
    let operator: Socket;
    const plans: LinkagePlan[] = [];

    beforeAll(async () => {
      for (const s of speakers) await s.start();
      hub = await startTestHub({
        config: {
          linkage: {
            rules: [
              {
                id: 'fire-evacuate',
                name: '火警疏散',
                when: { types: ['fire'] },
                actions: {
                  broadcast: { mode: 'auto', text: '发生火情，请立即疏散', count: 3, maxDistanceM: 3000 },
                  notify: true,
                },
              },
            ],
          },
        },
      });
      edge = new EdgeProcess(
        {
          gateway: { id: 'gw-qianli', site: QIANLI },
          mqtt: { url: hub.brokerUrl },
          devices: speakers.map((s, i) => ({
            type: 'ip-speaker',
            id: `spk-${i}`,
            name: `广场喇叭${i}`,
            position: { lat: SQUARE.lat + i * 0.001, lon: SQUARE.lon },
            rtp: s.rtpUrl,
            controlUrl: s.controlUrl,
          })),
        },
        await hub.provisionGateway('gw-qianli', QIANLI),
      );
      edge.start();
      await waitFor(
        '千里村 loudspeakers online',
        () => [0, 1, 2].every((i) => hub.app.registry.getDevice(`gw-qianli.spk-${i}`)?.status === 'online'),
        30_000,
      );
      rogue = await startUplink(
        hub.brokerUrl,
        DONGSHAN,
        'gw-dong',
        await hub.provisionGateway('gw-dong', DONGSHAN),
      );
      const admin = await hub.token();
      const created = await hub.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: { authorization: `Bearer ${admin}` },
        payload: {
          username: 'op-dong',
          password: 'operator-password-1',
          role: 'village_operator',
          sites: [DONGSHAN],
        },
      });
      expect(created.statusCode).toBe(201);
      operator = io(hub.baseUrl, {
        path: '/socket.io',
        auth: { token: await hub.token('op-dong', 'operator-password-1') },
        transports: ['websocket'],
        reconnection: false,
      });
      operator.on('linkage', (l: { plan: LinkagePlan }) => plans.push(l.plan));
      await new Promise<void>((resolve) => operator.on('connect', () => resolve()));
    }, 90_000);

    afterAll(async () => {
      operator?.disconnect();
      await rogue?.close();
      await edge?.stop();
      await hub?.close();
      for (const s of speakers) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const meta = (position: { lat: number; lon: number }) => ({
      ts: Date.now(),
      kind: 'sensor',
      name: '烟感',
      position,
      capabilities: ['event.fire'],
    });
    const fire = () => ({ ts: Date.now(), type: 'fire', severity: 'critical', data: { smoke: 0.9 } });
    const heardSince = (t: number) =>
      speakers.flatMap((s) => s.recordings.filter((r) => r.firstPacketAt >= t));

    it('a device placed in another village is refused and counted; its "fire" sounds nothing there', async () => {
      const started = Date.now();
      const before = await hub.metric('qly_ingest_rejected_total', { reason: 'outside_site' });
      rogue.send(topics.meta(DONGSHAN, 'gw-dong', 'smoke'), { ...meta(SQUARE) }, true);
      await waitFor(
        'refused as outside its site',
        async () => (await hub.metric('qly_ingest_rejected_total', { reason: 'outside_site' })) > before,
      );
      rogue.send(topics.event(DONGSHAN, 'gw-dong', 'smoke'), fire());
      await rogue.drained();
      await sleep(2000);
      expect(hub.app.registry.getDevice('gw-dong.smoke')).toBeUndefined();
      expect(heardSince(started)).toEqual([]);
    });

    it('a sensor inside its own village by the border: the rule acts for that village only, and it sees what was done', async () => {
      const started = Date.now();
      // 东山村, 1 km east of the 千里村 loudspeakers: nearer to them than to anything of its own.
      const border = { lat: 30.046, lon: 119.967 };
      rogue.send(topics.meta(DONGSHAN, 'gw-dong', 'smoke-2'), meta(border), true);
      await waitFor('the sensor registered', () => hub.app.registry.getDevice('gw-dong.smoke-2'));
      rogue.send(topics.event(DONGSHAN, 'gw-dong', 'smoke-2'), fire());
      const plan = await waitFor('东山村 operator sees the linkage', () =>
        plans.find((p) => p.rule === 'fire-evacuate'),
      );
      expect(plan.site).toBe(DONGSHAN);
      expect(plan.speakers).toEqual([]);
      expect(plan.broadcast).toBeNull();
      await sleep(2000);
      expect(heardSince(started)).toEqual([]);
    });
  },
);
