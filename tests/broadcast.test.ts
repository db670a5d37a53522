/**
 * Loudspeaker broadcasts through real parts: the hub, three edge agent processes (three villages)
 * with `ip-speaker` devices, ffmpeg encoding G.711 A-law RTP on the gateways, and loudspeaker
 * simulators that are real RTP receivers (decoding, writing WAV, measuring level and duration),
 * measured again with sox.
 *  - text-to-speech: the received audio's duration within 10 % of what espeak-ng speaks, clearly
 *    above silence;
 *  - an uploaded clip to 10 speakers in 3 villages: every one plays it to the end;
 *  - an emergency pre-empts a routine broadcast on the same speaker within 1 s (routine: interrupted);
 *  - live talk: PCM from the officer's side → hub → the gateway's outbound socket → RTP → heard;
 *  - bad clips refused with a clear error; a village operator cannot reach another village.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TALK_SAMPLE_RATE, talkSocketProtocols } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Recording, SpeakerSimulator } from '../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { synthesize } from '../edge-agent/src/audio/tts.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { systemBinary } from './support/system.ts';
import { sleep, waitFor } from './support/wait.ts';

const VILLAGES = [
  { site: 'v-east', gw: 'gw-east', speakers: 4 },
  { site: 'v-west', gw: 'gw-west', speakers: 3 },
  { site: 'v-north', gw: 'gw-north', speakers: 3 },
];

/** sox's measurement of a WAV (`sox FILE -n stat` writes to stderr): seconds and RMS amplitude (0–1). */
function sox(file: string): { seconds: number; rms: number } {
  const text = spawnSync('/usr/bin/sox', [file, '-n', 'stat'], { encoding: 'utf8' }).stderr;
  const num = (label: string) => Number(new RegExp(`${label}:\\s+([-0-9.e]+)`).exec(text)?.[1]);
  return { seconds: num('Length \\(seconds\\)'), rms: num('RMS\\s+amplitude') };
}

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg') || !systemBinary('/usr/bin/sox', 'sox'))(
  'loudspeaker broadcasts',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'qly-broadcast-'));
    let hub: TestHub;
    const edges: EdgeProcess[] = [];
    const sims = new Map<string, SpeakerSimulator>();
    let admin: string;
    let operator: string;

    const api = async (
      path: string,
      body?: unknown,
      token = admin,
      method = body === undefined ? 'GET' : 'POST',
    ) => {
      const res = await fetch(`${hub.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
    };
    const nextRecording = (key: string, after: number, timeoutMs = 30_000): Promise<Recording> =>
      waitFor(
        `${key} heard something`,
        () => sims.get(key)?.recordings.find((r) => r.firstPacketAt >= after),
        timeoutMs,
        50,
      );

    beforeAll(async () => {
      hub = await startTestHub();
      admin = await hub.token();
      for (const v of VILLAGES) {
        const devices = [];
        for (let i = 1; i <= v.speakers; i++) {
          const sim = new SpeakerSimulator({ recordDir: dir, volume: 100, silenceGapMs: 600 });
          await sim.start();
          sims.set(`${v.gw}.spk-${i}`, sim);
          devices.push({
            type: 'ip-speaker',
            id: `spk-${i}`,
            name: `${v.site} 大喇叭 ${i}`,
            position: { lat: 30.04 + i * 0.001, lon: 119.95 },
            rtp: sim.rtpUrl,
            controlUrl: sim.controlUrl,
            zones: [i === 1 ? 'riverside' : 'inland'],
          });
        }
        const edge = new EdgeProcess(
          {
            gateway: { id: v.gw, site: v.site },
            mqtt: { url: hub.brokerUrl },
            video: { hubUrl: hub.baseUrl },
            devices,
          },
          await hub.provisionGateway(v.gw, v.site),
        );
        edge.start();
        edges.push(edge);
      }
      const res = await hub.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: { authorization: `Bearer ${admin}` },
        payload: {
          username: 'east-op',
          password: 'a-long-password',
          role: 'village_operator',
          sites: ['v-east'],
        },
      });
      expect(res.statusCode).toBe(201);
      operator = await hub.token('east-op', 'a-long-password');
      await waitFor(
        'every speaker registered',
        () =>
          [...sims.keys()].every((k) =>
            hub.app.registry.getDevice(k)?.capabilities.includes('cmd.speaker.play'),
          ),
        30_000,
      );
    }, 90_000);

    afterAll(async () => {
      await Promise.all(edges.map((e) => e.stop()));
      await hub?.close();
      for (const s of sims.values()) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('text-to-speech: spoken on the gateway, heard at the speaker for as long as espeak-ng speaks it', async () => {
      const text = '各位村民请注意，明天下午有大雨，请做好防汛准备。';
      const key = 'gw-east.spk-2';
      const sent = Date.now();
      const { status, body } = await api('/api/broadcasts', {
        targets: { speakers: [key] },
        content: { tts: { text, lang: 'zh' } },
        priority: 'notice',
      });
      expect(status, JSON.stringify(body)).toBe(201);
      const heard = await nextRecording(key, sent);
      const reference = join(dir, 'reference.wav');
      await synthesize(text, 'zh', reference);
      const expected = sox(reference).seconds;
      const got = sox(heard.file as string);
      expect(Math.abs(got.seconds - expected) / expected).toBeLessThan(0.1);
      expect(got.rms).toBeGreaterThan(0.02); // about −34 dBFS; silence is 0
      expect(heard.rmsDbfs).toBeGreaterThan(-35);
      await waitFor(
        'reported finished',
        async () => {
          const b = (await api(`/api/broadcasts/${body.id}`)).body as {
            state: string;
            speakers: Record<string, { state: string; durationMs?: number }>;
          };
          return b.state === 'done' && b.speakers[key]?.state === 'finished' ? b : undefined;
        },
        15_000,
      );
    });

    it('a clip to 10 speakers in 3 villages: uploaded once, fetched by hash, played to the end everywhere', async () => {
      const wav = join(dir, 'tone.wav');
      execFileSync('/usr/bin/sox', [
        '-n',
        '-r',
        '44100',
        '-c',
        '2',
        wav,
        'synth',
        '2.5',
        'sine',
        '600',
        'vol',
        '0.5',
      ]);
      const upload = await fetch(`${hub.baseUrl}/api/clips?name=tone`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'audio/wav' },
        body: new Uint8Array(readFileSync(wav)),
      });
      expect(upload.status).toBe(201);
      const clip = (await upload.json()) as { hash: string; durationMs: number };
      expect(clip.durationMs).toBeGreaterThan(2400);
      const sent = Date.now();
      const { status, body } = await api('/api/broadcasts', {
        targets: { sites: VILLAGES.map((v) => v.site) },
        content: { clip: { hash: clip.hash } },
        priority: 'warning',
      });
      expect(status).toBe(201);
      const heard = await Promise.all([...sims.keys()].map((k) => nextRecording(k, sent)));
      expect(heard).toHaveLength(10);
      for (const r of heard) {
        expect(Math.abs(r.durationMs - 2500)).toBeLessThan(250);
        expect(r.rmsDbfs).toBeGreaterThan(-15);
      }
      const done = await waitFor(
        'all finished',
        async () => {
          const b = (await api(`/api/broadcasts/${body.id}`)).body as {
            state: string;
            speakers: Record<string, { state: string }>;
          };
          return b.state === 'done' ? b : undefined;
        },
        15_000,
      );
      expect(Object.values(done.speakers).map((s) => s.state)).toEqual(Array(10).fill('finished'));
    });

    it('repeats: a clip sent to play twice is heard for twice its length', async () => {
      const [clip] = (await api('/api/clips')).body as unknown as Array<{ hash: string; durationMs: number }>;
      const key = 'gw-east.spk-3';
      const sent = Date.now();
      const { status } = await api('/api/broadcasts', {
        targets: { speakers: [key] },
        content: { clip: { hash: clip?.hash } },
        priority: 'notice',
        repeat: 2,
      });
      expect(status).toBe(201);
      const heard = await nextRecording(key, sent);
      expect(Math.abs(heard.durationMs - 2 * (clip?.durationMs as number))).toBeLessThan(400);
    });

    it('an emergency pre-empts a routine broadcast on the same speaker within 1 s; the routine one is interrupted', async () => {
      const key = 'gw-west.spk-1';
      const long = await api('/api/broadcasts', {
        targets: { speakers: [key] },
        content: {
          tts: {
            text: 'This is a routine notice about the village meeting, which is long enough to be interrupted by something more urgent than itself.',
            lang: 'en',
          },
        },
        priority: 'routine',
      });
      expect(long.status).toBe(201);
      await waitFor('routine playing', () => sims.get(key)?.playing, 15_000, 20);
      await sleep(1000);
      const sent = Date.now();
      const urgent = await api('/api/broadcasts', {
        targets: { speakers: [key] },
        content: { tts: { text: '紧急通知，请立即撤离。', lang: 'zh' } },
        priority: 'emergency',
      });
      expect(urgent.status).toBe(201);
      // The routine transmission ends and the emergency one (another RTP stream) starts within a second.
      const emergency = await waitFor(
        'emergency heard',
        () =>
          new Promise<number | undefined>((resolve) => {
            const s = sims.get(key) as SpeakerSimulator;
            const onStart = ({ at }: { at: number }) => resolve(at);
            s.once('start', onStart);
            setTimeout(() => {
              s.off('start', onStart);
              resolve(undefined);
            }, 200);
          }),
        5000,
        0,
      );
      expect(emergency - sent).toBeLessThan(1000);
      const routine = await waitFor(
        'routine reported interrupted',
        async () => {
          const b = (await api(`/api/broadcasts/${long.body.id}`)).body as {
            speakers: Record<string, { state: string; reason?: string }>;
          };
          return b.speakers[key]?.state === 'interrupted' ? b.speakers[key] : undefined;
        },
        10_000,
      );
      expect(routine.reason).toBe(`interrupted by ${urgent.body.id}`);
    });

    it('live talk: the officer’s PCM reaches the speaker through the gateway’s outbound socket', async () => {
      const key = 'gw-north.spk-2';
      const { status, body } = await api('/api/broadcasts', {
        targets: { speakers: [key] },
        content: { live: {} },
        priority: 'warning',
      });
      expect(status).toBe(201);
      const talk = body.talk as { token: string; path: string };
      // The sender's login rides in the subprotocols: the token is good for this session only.
      const ws = new WebSocket(
        `${hub.baseUrl.replace('http', 'ws')}${talk.path}?token=${talk.token}`,
        talkSocketProtocols(admin),
      );
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const sent = Date.now();
      // 2 s of a 500 Hz tone in 20 ms frames, at real time.
      for (let f = 0; f < 100; f++) {
        const frame = Buffer.alloc((TALK_SAMPLE_RATE / 50) * 2);
        for (let i = 0; i < TALK_SAMPLE_RATE / 50; i++)
          frame.writeInt16LE(
            Math.round(
              12000 * Math.sin((2 * Math.PI * 500 * (f * (TALK_SAMPLE_RATE / 50) + i)) / TALK_SAMPLE_RATE),
            ),
            i * 2,
          );
        ws.send(frame);
        await sleep(20);
      }
      ws.close();
      const heard = await nextRecording(key, sent);
      expect(heard.durationMs).toBeGreaterThan(1200);
      expect(heard.rmsDbfs).toBeGreaterThan(-20);
      // The token was good once.
      const again = new WebSocket(
        `${hub.baseUrl.replace('http', 'ws')}${talk.path}?token=${talk.token}`,
        talkSocketProtocols(admin),
      );
      const code = await new Promise<number>((resolve) =>
        again.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
      );
      expect(code).toBe(401);
      expect(await hub.metric('qly_audio_refused_total', { reason: 'talk_token' })).toBeGreaterThanOrEqual(1);
    });

    it('scheduled: sent at its time by the hub (not before); a cancelled one never plays', async () => {
      const key = 'gw-north.spk-3';
      const at = Date.now() + 2500;
      const later = await api('/api/broadcasts', {
        targets: { speakers: [key] },
        content: { tts: { text: '定时广播测试。', lang: 'zh' } },
        priority: 'notice',
        schedule: { at },
      });
      expect(later.status).toBe(201);
      expect(later.body.state).toBe('scheduled');
      const cancelled = await api('/api/broadcasts', {
        targets: { speakers: ['gw-north.spk-1'] },
        content: { tts: { text: '这条会被取消。', lang: 'zh' } },
        priority: 'notice',
        schedule: { at: at + 500 },
      });
      expect((await api(`/api/broadcasts/${cancelled.body.id}/cancel`, {})).body.state).toBe('cancelled');
      const heardAt = (await nextRecording(key, Date.now())).firstPacketAt;
      expect(heardAt).toBeGreaterThanOrEqual(at);
      expect(heardAt - at).toBeLessThan(2500);
      await sleep(1500);
      expect(sims.get('gw-north.spk-1')?.recordings.filter((r) => r.firstPacketAt >= at)).toEqual([]);
      const done = (await api(`/api/broadcasts/${later.body.id}`)).body as { state: string };
      expect(['sending', 'done']).toContain(done.state);
    });

    it('stop on one speaker, then on all: each falls silent at once, the other plays on until stopped; audited and scoped', async () => {
      const [one, two] = ['gw-north.spk-1', 'gw-north.spk-2'];
      const sent = Date.now();
      // Long enough that a natural end could not pass for a stop (five repeats of a sentence).
      const b = await api('/api/broadcasts', {
        targets: { speakers: [one, two] },
        content: { tts: { text: '请注意，这是一条较长的测试广播，用于检验停止功能。', lang: 'zh' } },
        priority: 'warning',
        repeat: 5,
      });
      expect(b.status).toBe(201);
      const id = b.body.id as string;
      await waitFor('both speakers playing', () => sims.get(one)?.playing && sims.get(two)?.playing, 30_000);
      // Out of scope: the east operator does not see a north broadcast at all.
      expect((await api(`/api/broadcasts/${id}/speakers/${one}/stop`, {}, operator)).status).toBe(404);
      const stranger = await api(`/api/broadcasts/${id}/speakers/gw-east.spk-1/stop`, {});
      expect(stranger.status).toBe(404);
      expect(stranger.body).toMatchObject({
        code: 'HUB_ERR_NOT_FOUND',
        field: 'speaker',
        reason: 'no_target',
      });
      const stopAt = Date.now();
      const stopped = await api(`/api/broadcasts/${id}/speakers/${one}/stop`, {});
      expect(stopped.status).toBe(200);
      const silent = await waitFor(
        `${one} fell silent`,
        () => sims.get(one)?.recordings.find((r) => r.firstPacketAt >= sent),
        10_000,
        50,
      );
      expect(silent.lastPacketAt - stopAt).toBeLessThan(1500);
      expect(sims.get(two)?.playing).toBe(true); // the other speaker plays on
      await waitFor('the stopped speaker reports it', async () => {
        const v = (await api(`/api/broadcasts/${id}`)).body as {
          speakers: Record<string, { state: string }>;
        };
        return v.speakers[one]?.state === 'interrupted' && v.speakers[two]?.state === 'started';
      });
      expect(hub.app.audit.list({ limit: 10, action: 'broadcast.stop_speaker' })[0]).toMatchObject({
        actor: 'admin',
        target: id,
        outcome: 'ok',
      });
      // Stopping it again: it has ended there already.
      const again = await api(`/api/broadcasts/${id}/speakers/${one}/stop`, {});
      expect(again.status).toBe(409);
      expect(again.body.reason).toBe('already_ended');
      const cancelAt = Date.now();
      expect((await api(`/api/broadcasts/${id}/cancel`, {})).body.state).toBe('cancelled');
      const rest = await waitFor(
        `${two} fell silent`,
        () => sims.get(two)?.recordings.find((r) => r.firstPacketAt >= sent),
        10_000,
        50,
      );
      expect(rest.lastPacketAt - cancelAt).toBeLessThan(1500);
    });

    it('bad clips: not audio, too large, undecodable — a clear error and nothing stored', async () => {
      const post = (body: Uint8Array, type = 'audio/wav') =>
        fetch(`${hub.baseUrl}/api/clips`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': type },
          body: new Blob([body as Uint8Array<ArrayBuffer>]),
        });
      const refusals = async () => ({
        notAudio: await hub.metric('qly_audio_refused_total', { reason: 'clip_not_audio' }),
        tooLarge: await hub.metric('qly_audio_refused_total', { reason: 'clip_too_large' }),
      });
      const before = await refusals();
      const png = await post(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]));
      expect(png.status).toBe(415);
      expect(((await png.json()) as { message: string }).message).toMatch(/not a WAV, MP3 or Ogg/);
      const fake = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVEfmt '), Buffer.alloc(200, 7)]);
      const broken = await post(new Uint8Array(fake));
      expect(broken.status).toBe(415);
      expect(((await broken.json()) as { message: string }).message).toMatch(/not decodable/);
      const huge = await post(new Uint8Array(11 * 1024 * 1024));
      expect(huge.status).toBe(413);
      const text = await post(new TextEncoder().encode('hello'), 'text/plain');
      expect(text.status).toBe(415);
      const clips = (await api('/api/clips')).body as unknown as unknown[];
      expect(clips).toHaveLength(1); // only the tone of the earlier test
      // Each refusal counted by its reason.
      expect(await refusals()).toEqual({ notAudio: before.notAudio + 3, tooLarge: before.tooLarge + 1 });
    });

    it('a village operator broadcasts to their own village only: another village is refused (403), nothing sent', async () => {
      const own = await api(
        '/api/broadcasts',
        {
          targets: { sites: ['v-east'] },
          content: { tts: { text: '测试', lang: 'zh' } },
          priority: 'routine',
        },
        operator,
      );
      expect(own.status).toBe(201);
      expect(own.body.sites).toEqual(['v-east']);
      for (const targets of [
        { sites: ['v-west'] },
        { speakers: ['gw-west.spk-1'] },
        { sites: ['v-east', 'v-north'] },
      ]) {
        const other = await api(
          '/api/broadcasts',
          { targets, content: { tts: { text: '测试', lang: 'zh' } }, priority: 'emergency' },
          operator,
        );
        expect(other.status, JSON.stringify(targets)).toBe(403);
      }
      // "all" for an operator means all of their own speakers.
      const all = await api(
        '/api/broadcasts',
        { targets: { all: true }, content: { tts: { text: '测试', lang: 'zh' } }, priority: 'routine' },
        operator,
      );
      expect(all.body.sites).toEqual(['v-east']);
      const history = (await api('/api/broadcasts', undefined, operator)).body as unknown as Array<{
        sites: string[];
      }>;
      expect(history.every((b) => b.sites.every((s) => s === 'v-east'))).toBe(true);
    });

    it('a village’s clips are its own: another village neither lists nor plays them; an officer’s are everyone’s', async () => {
      const res = await hub.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: { authorization: `Bearer ${admin}` },
        payload: {
          username: 'west-op',
          password: 'a-long-password',
          role: 'village_operator',
          sites: ['v-west'],
        },
      });
      expect(res.statusCode).toBe(201);
      const west = await hub.token('west-op', 'a-long-password');
      const wav = join(dir, 'east-notice.wav');
      execFileSync('/usr/bin/sox', ['-n', '-r', '16000', '-c', '1', wav, 'synth', '0.6', 'sine', '440']);
      const upload = (token: string) =>
        fetch(`${hub.baseUrl}/api/clips?name=east-notice`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'audio/wav' },
          body: new Uint8Array(readFileSync(wav)),
        });
      const up = await upload(operator);
      expect(up.status).toBe(201);
      const { hash } = (await up.json()) as { hash: string };
      const listed = async (token: string) =>
        ((await api('/api/clips', undefined, token)).body as unknown as Array<{ hash: string }>).map(
          (c) => c.hash,
        );
      expect(await listed(operator)).toContain(hash);
      expect(await listed(admin)).toContain(hash);
      expect(await listed(west)).not.toContain(hash);
      // The officer’s clip of the earlier test is everyone’s.
      const all = (await api('/api/clips')).body as unknown as Array<{ hash: string; uploadedBy: string }>;
      const officers = all.find((c) => c.uploadedBy === 'admin');
      expect(officers).toBeDefined();
      expect(await listed(west)).toContain(officers?.hash);
      const play = await api(
        '/api/broadcasts',
        { targets: { sites: ['v-west'] }, content: { clip: { hash } }, priority: 'routine' },
        west,
      );
      expect(play.status).toBe(404);
      // The same sound uploaded by the other village is one clip both see.
      expect((await upload(west)).status).toBe(201);
      expect(await listed(west)).toContain(hash);
      expect(await listed(operator)).toContain(hash);
    });
  },
);
