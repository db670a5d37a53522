/**
 * Loudspeaker health and honest delivery through real parts: the hub (embedded broker), an edge
 * agent process with four `ip-speaker` devices, ffmpeg sending G.711 RTP, loudspeaker simulators
 * that are real RTP receivers with a control API.
 *
 * - A speaker down when the gateway starts is never called available: unreachable with
 *   SPEAKER_SILENT, offline on the list, a 通信中断 health alarm; up → available, the alarm cleared.
 * - One broadcast to a speaker that hears it, one whose RTP receiver is gone (its control API
 *   answers), one that is silent altogether and one without a control API: played (confirmed by
 *   its packet counter), failed (the speaker's status shows nothing received), failed before it
 *   started (the hub refuses an unreachable speaker, with the reason), sent-unconfirmed. Never
 *   "finished" for a speaker that did not hear it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeakerSimulator } from '../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { systemBinary } from './support/system.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'v-spk-health';
const GW = 'gw-spk-health';
const key = (id: string) => `${GW}.${id}`;

interface Delivery {
  state: string;
  reason?: string;
  code?: string;
}

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))('loudspeaker health and honest delivery', () => {
  let hub: TestHub;
  let edge: EdgeProcess;
  let admin: string;
  const sims = {
    ok: new SpeakerSimulator({ volume: 100, silenceGapMs: 400 }),
    deaf: new SpeakerSimulator({ volume: 100, silenceGapMs: 400 }),
    dead: new SpeakerSimulator({ volume: 100, silenceGapMs: 400 }),
    blind: new SpeakerSimulator({ volume: 100, silenceGapMs: 400 }),
  };
  const healthAlarms = (device: string) => hub.app.alarms.list({ device, sources: ['health'], limit: 10 });

  const api = async (path: string, body?: unknown) => {
    const res = await fetch(`${hub.baseUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${admin}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    for (const s of Object.values(sims)) await s.start();
    // Down before the gateway starts: its ports are known, nothing answers on them.
    await sims.dead.stop();
    hub = await startTestHub({ config: { alarms: { healthStartupGraceMs: 0, flapWindowMs: 60_000 } } });
    hub.app.siteTree.upsert([
      { id: 'c-spk', name: '县', level: 'county', parent: null },
      { id: 't-spk', name: '镇', level: 'town', parent: 'c-spk' },
      { id: SITE, name: '喇叭村', level: 'village', parent: 't-spk' },
    ]);
    admin = await hub.token();
    const speaker = (id: string, sim: SpeakerSimulator, control: boolean) => ({
      type: 'ip-speaker',
      id,
      name: `大喇叭 ${id}`,
      position: { lat: 30.05, lon: 119.96 },
      rtp: sim.rtpUrl,
      ...(control ? { controlUrl: sim.controlUrl } : {}),
      healthIntervalMs: 1000,
    });
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: hub.brokerUrl },
        devices: [
          speaker('ok', sims.ok, true),
          speaker('deaf', sims.deaf, true),
          speaker('dead', sims.dead, true),
          speaker('blind', sims.blind, false),
        ],
      },
      await hub.provisionGateway(GW, SITE),
    );
    edge.start();
    await waitFor(
      'speakers registered',
      () =>
        ['ok', 'deaf', 'dead', 'blind'].every((id) =>
          hub.app.registry.getDevice(key(id))?.capabilities.includes('cmd.speaker.play'),
        ),
      30_000,
    ).catch((e) => {
      console.log(edge.output.slice(-3000));
      throw e;
    });
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    await hub?.close();
    for (const s of Object.values(sims)) await s.stop();
  });

  it('a speaker down at the gateway’s start is unreachable with its reason and alarmed; up, it is available and the alarm clears', async () => {
    const dead = await waitFor(
      'dead speaker unreachable',
      () => {
        const d = hub.app.registry.getDevice(key('dead'));
        return d?.unreachable ? d : undefined;
      },
      10_000,
    );
    expect(dead.status).toBe('offline');
    expect(dead.unreachable?.reason).toMatch(/^SPEAKER_SILENT: .*connection refused/);
    const alarm = await waitFor('通信中断', () => healthAlarms(key('dead'))[0], 10_000);
    expect(alarm).toMatchObject({ type: 'health.comm_lost', state: 'active', site: SITE });
    // The others answered (or, without a control API, cannot be asked).
    for (const id of ['ok', 'deaf', 'blind'])
      expect(hub.app.registry.getDevice(key(id))?.status, id).toBe('online');

    await sims.dead.start();
    const cleared = await waitFor(
      'cleared',
      () => {
        const a = hub.app.alarms.get(alarm.id);
        return a?.clearedAt !== null ? a : undefined;
      },
      10_000,
    );
    expect(cleared.durationMs).toBeGreaterThan(0);
    expect(hub.app.registry.getDevice(key('dead'))?.status).toBe('online');
  }, 30_000);

  it('played only where the speaker confirmed: receiver gone → failed, silent → failed before it starts, no control API → sent, unconfirmed', async () => {
    // The dead one dies again, silently: the gateway notices within two checks.
    await sims.dead.stop();
    await waitFor('dead again', () => hub.app.registry.getDevice(key('dead'))?.unreachable, 10_000);
    await sims.deaf.stopReceiver();
    const sent = Date.now();
    const { status, body } = await api('/api/broadcasts', {
      targets: { speakers: ['ok', 'deaf', 'dead', 'blind'].map(key) },
      content: { tts: { text: 'Attention please, the river is rising.', lang: 'en' } },
      priority: 'warning',
    });
    expect(status, JSON.stringify(body)).toBe(201);
    const done = await waitFor(
      'broadcast done',
      async () => {
        const b = (await api(`/api/broadcasts/${body.id}`)).body as {
          state: string;
          speakers: Record<string, Delivery>;
        };
        return b.state === 'done' ? b : undefined;
      },
      30_000,
    );
    const d = done.speakers;
    expect(d[key('ok')]?.state).toBe('finished');
    expect(d[key('deaf')]).toMatchObject({ state: 'failed' });
    expect(d[key('deaf')]?.reason).toMatch(/^SPEAKER_NOT_RECEIVED/);
    expect(d[key('dead')]).toMatchObject({ state: 'failed', code: 'HUB_ERR_DEVICE_UNAVAILABLE' });
    expect(d[key('dead')]?.reason).toMatch(/SPEAKER_SILENT/);
    expect(d[key('blind')]).toMatchObject({ state: 'unconfirmed' });
    expect(d[key('blind')]?.reason).toMatch(/^SPEAKER_NO_CONTROL_API/);
    // What was heard agrees: the speaker that played and the one without a control API got RTP.
    // (A recording closes after the speaker's silence gap.)
    for (const sim of [sims.ok, sims.blind])
      await waitFor('heard', () => sim.recordings.some((r) => r.firstPacketAt >= sent), 5000);
    expect(sims.deaf.recordings.some((r) => r.firstPacketAt >= sent)).toBe(false);
    expect(sims.dead.recordings.some((r) => r.firstPacketAt >= sent)).toBe(false);
  }, 60_000);
});
