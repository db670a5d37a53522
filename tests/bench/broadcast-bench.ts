/**
 * `npm run bench:broadcast` — click-to-sound latency of loudspeaker broadcasts on the embedded setup:
 * the hub process, one edge agent process with `ip-speaker` devices, and loudspeaker simulators that
 * are real RTP receivers (in this process). "Sound" is the first RTP packet decoded at the speaker.
 *  - TTS: POST /api/broadcasts with new text each round (spoken on the gateway each time);
 *  - clip: an uploaded clip (the first round fetches it, later rounds play it from the cache);
 *  - live talk: POST, the officer's socket opened, PCM sent at real time;
 *  - fan-out: one TTS broadcast to every speaker (BENCH_SPEAKERS, 100): all heard, and how fast.
 * Medians of BENCH_ROUNDS (5). Last line: one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TALK_SAMPLE_RATE, talkSocketProtocols } from '@qianliyan/protocols';
import WebSocket from 'ws';
import { SpeakerSimulator } from '../../edge-agent/src/adapters/ip-speaker/simulator.ts';
import { ffmpegPath } from '../../edge-agent/src/video/ffmpeg.ts';
import { EdgeProcess } from '../support/edge.ts';
import { HubProcess } from '../support/hub-process.ts';
import { freePort, sleep, waitFor } from '../support/wait.ts';

const SPEAKERS = Number(process.env.BENCH_SPEAKERS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SITE = 'bench-broadcast';
const GW = 'gw-bc-bench';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const dir = mkdtempSync(join(tmpdir(), 'qly-bench-bc-'));
const sims: SpeakerSimulator[] = [];
const [httpPort, mqttPort] = [await freePort(), await freePort()];
const hub = new HubProcess(
  dir,
  {
    host: '127.0.0.1',
    port: httpPort,
    logLevel: 'warn',
    auth: { scryptLog2N: 12 },
    mqtt: { embeddedHost: '127.0.0.1', embeddedPort: mqttPort },
  },
  { ADMIN_PASSWORD: 'bench-admin-password' },
);
let edge: EdgeProcess | undefined;
const base = `http://127.0.0.1:${httpPort}`;
try {
  await hub.start();
  const { token } = (await (
    await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }),
    })
  ).json()) as { token: string };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const { password } = (await post('/api/gateways', { id: GW, site: SITE })) as { password: string };
  const devices = [];
  for (let i = 1; i <= SPEAKERS; i++) {
    const sim = new SpeakerSimulator({ volume: 100, silenceGapMs: 400 });
    await sim.start();
    sims.push(sim);
    devices.push({
      type: 'ip-speaker',
      id: `spk-${i}`,
      name: `spk ${i}`,
      position: { lat: 30 + i * 0.0005, lon: 120 },
      rtp: sim.rtpUrl,
      controlUrl: sim.controlUrl,
      statusIntervalMs: 60_000,
    });
  }
  edge = new EdgeProcess(
    {
      gateway: { id: GW, site: SITE },
      mqtt: { url: `mqtt://127.0.0.1:${mqttPort}` },
      logLevel: 'warn',
      video: { hubUrl: base },
      devices,
    },
    password,
  );
  edge.start();
  await waitFor(
    'every speaker registered',
    async () => {
      const res = await fetch(`${base}/api/devices`, { headers: { authorization: `Bearer ${token}` } });
      return (
        ((await res.json()) as Array<{ kind: string; capabilities: string[] }>).filter((d) =>
          d.capabilities.includes('cmd.speaker.play'),
        ).length === SPEAKERS
      );
    },
    60_000,
    200,
  );
  const key = (i: number) => `${GW}.spk-${i}`;
  /** Milliseconds from `sent` to the first packet at simulator i. */
  const firstSound = (i: number, sent: number) =>
    waitFor(
      'sound',
      () => {
        const at = sims[i - 1]?.firstPacketAfter(sent);
        return at === undefined ? undefined : at - sent;
      },
      30_000,
      5,
    );

  const tts: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sent = Date.now();
    await post('/api/broadcasts', {
      targets: { speakers: [key(1)] },
      content: { tts: { text: `第${r + 1}次测试广播，请注意。`, lang: 'zh' } },
      priority: 'emergency',
    });
    tts.push(await firstSound(1, sent));
    await sleep(3000);
  }
  process.stdout.write(`${JSON.stringify({ path: 'tts', ms: tts })}\n`);

  const wav = join(dir, 'tone.wav');
  execFileSync(ffmpegPath(), [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=700:duration=1.5',
    '-y',
    wav,
  ]);
  const upload = await fetch(`${base}/api/clips?name=bench`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'audio/wav' },
    body: new Blob([new Uint8Array(readFileSync(wav))]),
  });
  const { hash } = (await upload.json()) as { hash: string };
  const clip: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sent = Date.now();
    await post('/api/broadcasts', {
      targets: { speakers: [key(2)] },
      content: { clip: { hash } },
      priority: 'emergency',
    });
    clip.push(await firstSound(2, sent));
    await sleep(2500);
  }
  process.stdout.write(
    `${JSON.stringify({ path: 'clip', ms: clip, note: 'round 1 fetches the clip; later rounds play it from the cache' })}\n`,
  );

  const talk: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sent = Date.now();
    const b = (await post('/api/broadcasts', {
      targets: { speakers: [key(3)] },
      content: { live: {} },
      priority: 'emergency',
    })) as {
      talk: { token: string; path: string };
    };
    const ws = new WebSocket(
      `ws://127.0.0.1:${httpPort}${b.talk.path}?token=${b.talk.token}`,
      talkSocketProtocols(token),
    );
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const frame = Buffer.alloc((TALK_SAMPLE_RATE / 50) * 2);
    for (let i = 0; i < frame.length / 2; i++) frame.writeInt16LE(Math.round(10000 * Math.sin(i / 3)), i * 2);
    const sender = setInterval(() => ws.send(frame), 20);
    talk.push(await firstSound(3, sent));
    await sleep(500);
    clearInterval(sender);
    ws.close();
    await sleep(1500);
  }
  process.stdout.write(`${JSON.stringify({ path: 'live talk', ms: talk })}\n`);

  const sent = Date.now();
  await post('/api/broadcasts', {
    targets: { all: true },
    content: { tts: { text: '全体村民请注意，这是一次广播测试。', lang: 'zh' } },
    priority: 'emergency',
  });
  const all = await Promise.all(sims.map((_, i) => firstSound(i + 1, sent).catch(() => Number.NaN)));
  const heard = all.filter((v) => Number.isFinite(v));
  process.stdout.write(
    `${JSON.stringify({ path: 'fan-out', speakers: SPEAKERS, heard: heard.length, first_ms: Math.min(...heard), median_ms: median(heard), last_ms: Math.max(...heard) })}\n`,
  );

  process.stdout.write(
    `${JSON.stringify({
      bench: 'broadcast',
      live_talk_ms: median(talk),
      tts_ms: median(tts),
      clip_ms: median(clip),
      speakers: heard.length,
      fanout_last_ms: Math.max(...heard),
    })}\n`,
  );
} finally {
  await edge?.stop();
  await hub.stop();
  for (const s of sims) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}
