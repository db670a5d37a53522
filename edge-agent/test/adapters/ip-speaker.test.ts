/**
 * The `ip-speaker` adapter on its own, with real ffmpeg: the queue and pre-emption by priority, the
 * playback events in order, and the Opus path (RTP with a dynamic payload type and Opus frames).
 * Health and honest delivery against the speaker simulator's control API: not available until it
 * answered; silent → unreachable with its reason and a broadcast refused before it starts; back →
 * available; its RTP receiver gone while the control API answers → the broadcast failed, never
 * finished; a speaker without a control API → sent, unconfirmed.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { systemBinary } from '../../../tests/support/system.ts';
import { waitFor } from '../../../tests/support/wait.ts';
import { ipSpeaker } from '../../src/adapters/ip-speaker/index.ts';
import { SpeakerSimulator } from '../../src/adapters/ip-speaker/simulator.ts';
import type { AdapterContext, DeviceAdapter } from '../../src/adapters/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'qly-ipspk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function speaker(rtp: string, codec: 'pcma' | 'opus', controlUrl?: string, healthIntervalMs = 60_000) {
  const events: Array<{ type: string; data: Record<string, unknown> }> = [];
  const availability: Array<{ online: boolean; reason?: string }> = [];
  const ctx: AdapterContext = {
    log: pino({ level: 'silent' }),
    telemetry: () => {},
    event: (type, _s, data) => void events.push({ type, data: data ?? {} }),
    availability: (online, reason) => void availability.push({ online, ...(reason ? { reason } : {}) }),
    metaChanged: () => {},
    hub: undefined,
    dataDir: join(dir, 'dev'),
    cacheDir: join(dir, 'cache'),
  };
  const adapter = ipSpeaker.create(
    {
      type: 'ip-speaker',
      id: 'spk',
      name: 'spk',
      position: { lat: 30, lon: 120 },
      rtp,
      codec,
      ttl: 1,
      volume: 100,
      ...(controlUrl ? { controlUrl } : {}),
      zones: [],
      coverageM: 100,
      statusIntervalMs: 60_000,
      healthIntervalMs,
    },
    ctx,
  ) as DeviceAdapter;
  adapter.start();
  const play = (broadcast: string, priority: string, text: string) =>
    adapter.actions?.['speaker.play']?.({
      broadcast,
      priority,
      source: { tts: { text, lang: 'en' } },
      repeat: 1,
    });
  return { adapter, events, availability, play };
}
const id = (n: number) => `b${String(n).padStart(15, '0')}`;

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))('ip-speaker', () => {
  it('queues equal or lower priorities, pre-empts with a higher one, then plays the queue', async () => {
    const sim = new SpeakerSimulator({ silenceGapMs: 300 });
    await sim.start();
    const { adapter, events, play } = speaker(sim.rtpUrl, 'pcma', sim.controlUrl);
    expect(
      await play(id(1), 'notice', 'The first notice is long enough to still be playing in a moment.'),
    ).toEqual({ state: 'started' });
    expect(await play(id(2), 'routine', 'A routine message.')).toMatchObject({ state: 'queued' });
    expect(await play(id(3), 'emergency', 'Emergency.')).toEqual({ state: 'started' });
    expect(await play(id(3), 'emergency', 'Emergency.')).toEqual({ state: 'duplicate' });
    await waitFor(
      'all done',
      () => events.filter((e) => e.type === 'playback.finished').length === 2,
      20_000,
    );
    expect(
      events.filter((e) => e.type !== 'playback.progress').map((e) => [e.type, e.data.broadcast]),
    ).toEqual([
      ['playback.started', id(1)],
      ['playback.interrupted', id(1)],
      ['playback.started', id(3)],
      ['playback.finished', id(3)],
      ['playback.started', id(2)],
      ['playback.finished', id(2)],
    ]);
    expect(events.find((e) => e.type === 'playback.interrupted')?.data.by).toBe(id(3));
    await adapter.stop();
    // The interrupted notice may have been cut before its first packet left: two or three streams.
    await waitFor('the speaker heard them', () => sim.recordings.length >= 2, 5000);
    await sim.stop();
  }, 30_000);

  it('volume and power through the speaker’s control API', async () => {
    const sim = new SpeakerSimulator();
    await sim.start();
    const { adapter } = speaker(sim.rtpUrl, 'pcma', sim.controlUrl);
    expect(await adapter.actions?.['speaker.volume']?.({ volume: 35 })).toEqual({ volume: 35 });
    expect(sim.volume).toBe(35);
    expect(await adapter.actions?.['speaker.power']?.({ on: false })).toEqual({ power: false });
    expect(sim.power).toBe(false);
    await adapter.stop();
    await sim.stop();
    // A speaker that stopped answering: a clear device error.
    await expect(adapter.actions?.['speaker.volume']?.({ volume: 50 })).rejects.toThrow(/did not answer/);
  });

  it('Opus: RTP with a dynamic payload type carrying Opus frames', async () => {
    const socket = createSocket('udp4');
    const packets: Buffer[] = [];
    socket.on('message', (m) => packets.push(m));
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const { adapter, events, play } = speaker(`rtp://127.0.0.1:${socket.address().port}`, 'opus');
    await play(id(9), 'notice', 'Opus test.');
    await waitFor(
      'ended',
      () => events.some((e) => e.type === 'playback.unconfirmed' || e.type === 'playback.failed'),
      15_000,
    );
    expect(events.find((e) => e.type === 'playback.failed')).toBeUndefined();
    // No control API: sent, never called played.
    expect(events.find((e) => e.type === 'playback.finished')).toBeUndefined();
    expect(events.find((e) => e.type === 'playback.unconfirmed')?.data.reason).toMatch(
      /^SPEAKER_NO_CONTROL_API/,
    );
    expect(packets.length).toBeGreaterThan(10);
    const first = packets[0] as Buffer;
    expect((first[0] as number) >> 6).toBe(2);
    expect((first[1] as number) & 0x7f).toBeGreaterThanOrEqual(96);
    await adapter.stop();
    socket.close();
  }, 30_000);

  it('not available until the speaker answered; silent → unreachable and a broadcast refused before it starts; back → available', async () => {
    const sim = new SpeakerSimulator({ silenceGapMs: 300 });
    await sim.start();
    const controlUrl = sim.controlUrl;
    const rtpUrl = sim.rtpUrl;
    await sim.stop();
    // Never heard since start: unreachable at once, with the reason.
    const { adapter, events, availability, play } = speaker(rtpUrl, 'pcma', controlUrl, 1000);
    await waitFor('unreachable', () => availability.length > 0, 5000);
    expect(availability[0]).toMatchObject({ online: false });
    expect(availability[0]?.reason).toMatch(/^SPEAKER_SILENT: .*connection refused/);
    await expect(play(id(20), 'emergency', 'Nobody hears this.')).rejects.toMatchObject({
      code: 'EDGE_ERR_DEVICE_UNREACHABLE',
      message: expect.stringMatching(/^SPEAKER_SILENT/),
    });
    expect(events).toEqual([]);
    await sim.start();
    await waitFor('available', () => availability.at(-1)?.online === true, 5000);
    expect(availability.filter((a) => a.online)).toHaveLength(1);
    // Silent again: one lost answer is not an outage, two in a row are.
    await sim.stop();
    await waitFor('unreachable again', () => availability.at(-1)?.online === false, 5000);
    expect(availability.at(-1)?.reason).toMatch(/^SPEAKER_SILENT/);
    await adapter.stop();
  }, 30_000);

  it('its RTP receiver gone while the control API answers: the broadcast fails, never finished', async () => {
    const sim = new SpeakerSimulator({ silenceGapMs: 300 });
    await sim.start();
    const { adapter, events, availability, play } = speaker(sim.rtpUrl, 'pcma', sim.controlUrl);
    await waitFor('available', () => availability.at(-1)?.online === true, 5000);
    expect(availability).toEqual([{ online: true }]);
    await sim.stopReceiver();
    expect(await play(id(30), 'notice', 'Is anybody there?')).toEqual({ state: 'started' });
    await waitFor(
      'ended',
      () => events.some((e) => ['playback.finished', 'playback.failed'].includes(e.type)),
      20_000,
    );
    expect(events.map((e) => e.type).filter((t) => t !== 'playback.progress')).toEqual([
      'playback.started',
      'playback.failed',
    ]);
    expect(events.at(-1)?.data.reason).toMatch(/^SPEAKER_NOT_RECEIVED: .*packets 0 → 0/);
    // Received again: confirmed by the packet counter, played.
    await sim.startReceiver();
    await play(id(31), 'notice', 'Now you hear me.');
    await waitFor('finished', () => events.some((e) => e.type === 'playback.finished'), 20_000);
    expect(sim.packets).toBeGreaterThan(10);
    await adapter.stop();
    await sim.stop();
  }, 45_000);
});
