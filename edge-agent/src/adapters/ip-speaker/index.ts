/**
 * `ip-speaker`: a village IP loudspeaker (大喇叭) that plays RTP — G.711 A-law for basic speakers,
 * Opus where supported — unicast or to a multicast group, encoded by ffmpeg on the gateway.
 *
 * One broadcast plays at a time per speaker. A higher priority pre-empts the one playing (reported
 * `playback.interrupted`, with the broadcast that took over); an equal or lower one waits in the
 * queue (highest priority first, then in order). Sources: text spoken here by espeak-ng (only text
 * crossed the uplink), a clip fetched from the hub by its content hash and cached, or live talk
 * from the hub over the gateway's own outbound WebSocket. Each broadcast is reported as device
 * events: `playback.started`, `playback.progress`, `playback.finished` (actual duration),
 * `playback.interrupted`, `playback.failed` (reason). Volume, power and status through the speaker's
 * HTTP control API when it has one (`controlUrl`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CLIP_HASH_PATTERN,
  ID_PATTERN,
  priorityRank,
  type SpeakerPlayParams,
  TALK_SAMPLE_RATE,
} from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import WebSocket from 'ws';
import { synthesize, type TtsError } from '../../audio/tts.ts';
import { ffmpegPath } from '../../video/ffmpeg.ts';
import {
  type ActionTable,
  type AdapterContext,
  type AdapterDefinition,
  CommandFailure,
  type DeviceAdapter,
  type DeviceDescriptor,
} from '../types.ts';

const configSchema = Type.Object(
  {
    type: Type.Literal('ip-speaker'),
    id: Type.String({ pattern: `^${ID_PATTERN}$`, description: 'device id, unique on this gateway' }),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    position: Type.Object(
      { lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) },
      { additionalProperties: false },
    ),
    rtp: Type.String({
      pattern: '^rtp://[^\\s/:]+:\\d{1,5}$',
      description: 'where the speaker listens: rtp://host:port, or a multicast group rtp://239.x.y.z:port',
    }),
    codec: Type.Union([Type.Literal('pcma'), Type.Literal('opus')], {
      default: 'pcma',
      description: 'G.711 A-law (8 kHz, every speaker) or Opus (48 kHz, where the speaker supports it)',
    }),
    ttl: Type.Integer({ minimum: 1, maximum: 32, default: 4, description: 'multicast TTL' }),
    controlUrl: Type.Optional(
      Type.String({
        pattern: '^https?://\\S+$',
        description: 'the speaker’s HTTP control API (status, volume, power)',
      }),
    ),
    volume: Type.Integer({ minimum: 0, maximum: 100, default: 80, description: 'initial volume, percent' }),
    zones: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }), {
      default: [],
      maxItems: 16,
      description: 'broadcast zones this speaker belongs to',
    }),
    coverageM: Type.Number({
      minimum: 1,
      maximum: 5000,
      default: 300,
      description: 'how far it is heard, metres',
    }),
    statusIntervalMs: Type.Integer({
      minimum: 1000,
      default: 30_000,
      description: 'how often status is reported',
    }),
  },
  { additionalProperties: false },
);

interface IpSpeakerConfig {
  type: 'ip-speaker';
  id: string;
  name: string;
  position: { lat: number; lon: number };
  rtp: string;
  codec: 'pcma' | 'opus';
  ttl: number;
  controlUrl?: string;
  volume: number;
  zones: string[];
  coverageM: number;
  statusIntervalMs: number;
}

/** What one broadcast plays. */
interface Job {
  params: SpeakerPlayParams;
  /** A file to play, or live PCM from the hub. */
  input: { file: string } | { live: string };
}

interface Playing {
  job: Job;
  proc: ChildProcess;
  startedAt: number;
  progress: NodeJS.Timeout;
  talk?: WebSocket;
  /** Why it ended early, when it did. */
  ending?: { state: 'interrupted'; by: string } | { state: 'failed'; reason: string };
}

const MAX_QUEUE = 8;
const MAX_CLIP_BYTES = 64 * 1024 * 1024;
const PROGRESS_MS = 5000;

class IpSpeaker implements DeviceAdapter {
  readonly id: string;
  private volume: number;
  private power = true;
  private playing: Playing | undefined;
  private readonly queue: Job[] = [];
  private statusTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly config: IpSpeakerConfig,
    private readonly ctx: AdapterContext,
  ) {
    this.id = config.id;
    this.volume = config.volume;
  }

  readonly actions: ActionTable = {
    'speaker.play': async (params) => this.play(params as SpeakerPlayParams),
    'speaker.stop': async (params) => this.stopBroadcast(params.broadcast as string),
    'speaker.power': async (params) => {
      if (!this.config.controlUrl)
        throw new CommandFailure('EDGE_ERR_UNSUPPORTED', 'this speaker has no control API (controlUrl)');
      this.power = params.on as boolean;
      await this.control('/power', { power: this.power });
      this.report();
      return { power: this.power };
    },
    'speaker.volume': async (params) => {
      this.volume = params.volume as number;
      await this.control('/volume', { volume: this.volume });
      this.report();
      return { volume: this.volume };
    },
  };

  describe(): DeviceDescriptor {
    const { name, position, zones, coverageM, codec } = this.config;
    return {
      kind: 'speaker',
      name,
      model: `IP speaker (RTP ${codec === 'pcma' ? 'G.711 A-law' : 'Opus'})`,
      position,
      capabilities: ['audio.broadcast', 'volume', 'tts', 'clip', ...(this.ctx.hub ? ['talk'] : [])],
      ...(zones.length ? { zones } : {}),
      coverageM,
    };
  }

  start(): void {
    this.ctx.availability(true);
    this.report();
    this.statusTimer = setInterval(() => this.report(), this.config.statusIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.statusTimer);
    this.queue.length = 0;
    if (this.playing) await this.end(this.playing, { state: 'interrupted', by: 'shutdown' });
  }

  private report(): void {
    this.ctx.telemetry({
      volume: this.volume,
      power: this.power,
      playing: Boolean(this.playing),
      queued: this.queue.length,
      ...(this.playing
        ? { broadcast: this.playing.job.params.broadcast, priority: this.playing.job.params.priority }
        : {}),
    });
  }

  /** Speaker's own HTTP API, when it has one; a speaker without one keeps the volume in the encoder. */
  private async control(path: string, body: object): Promise<void> {
    if (!this.config.controlUrl) return;
    const res = await fetch(new URL(path, this.config.controlUrl), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(3000),
    }).catch((err: Error) => {
      throw new CommandFailure('EDGE_ERR_DEVICE_UNREACHABLE', `the speaker did not answer: ${err.message}`);
    });
    if (!res.ok)
      throw new CommandFailure('EDGE_ERR_COMMAND_FAILED', `the speaker refused (HTTP ${res.status})`);
  }

  private async play(params: SpeakerPlayParams): Promise<unknown> {
    if (this.stopped) throw new CommandFailure('EDGE_ERR_COMMAND_FAILED', 'the speaker is stopping');
    if (
      this.playing?.job.params.broadcast === params.broadcast ||
      this.queue.some((j) => j.params.broadcast === params.broadcast)
    )
      return { state: 'duplicate' };
    const job: Job = { params, input: await this.prepare(params) };
    const current = this.playing;
    if (current && priorityRank(params.priority) > priorityRank(current.job.params.priority)) {
      // Pre-empt: the lower one ends (interrupted), this one starts at once.
      await this.end(current, { state: 'interrupted', by: params.broadcast });
    } else if (current) {
      if (this.queue.length >= MAX_QUEUE)
        throw new CommandFailure('EDGE_ERR_BUSY', `the speaker already has ${MAX_QUEUE} broadcasts waiting`);
      this.queue.push(job);
      this.queue.sort((a, b) => priorityRank(b.params.priority) - priorityRank(a.params.priority));
      this.report();
      return { state: 'queued', behind: current.job.params.broadcast };
    }
    this.begin(job);
    return { state: 'started' };
  }

  /**
   * Makes the source playable: speech synthesised, a clip fetched — once per gateway: the cache is
   * shared by its speakers, and speakers asking at the same moment share one synthesis or download.
   */
  private async prepare(params: SpeakerPlayParams): Promise<Job['input']> {
    const dir = this.ctx.cacheDir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const source = params.source;
    if ('tts' in source) {
      const key = createHash('sha256').update(`${source.tts.lang}\n${source.tts.text}`).digest('hex');
      const file = join(dir, `tts-${key}.wav`);
      if (!existsSync(file))
        await once(file, async () => {
          try {
            await synthesize(source.tts.text, source.tts.lang, `${file}.part`);
            renameSync(`${file}.part`, file);
          } catch (err) {
            throw new CommandFailure('EDGE_ERR_TTS', (err as TtsError).message);
          }
        });
      return { file };
    }
    if ('clip' in source) {
      const { hash } = source.clip;
      if (!new RegExp(CLIP_HASH_PATTERN).test(hash))
        throw new CommandFailure('EDGE_ERR_BAD_PARAMS', 'bad clip hash');
      const file = join(dir, `clip-${hash}.wav`);
      if (existsSync(file)) return { file };
      const hub = this.ctx.hub;
      if (!hub)
        throw new CommandFailure(
          'EDGE_ERR_UNSUPPORTED',
          'this gateway has no hub link (video.hubUrl) for clips',
        );
      await once(file, async () => {
        let data: Buffer;
        try {
          data = await hub.fetchClip(hash, MAX_CLIP_BYTES);
        } catch (err) {
          throw new CommandFailure('EDGE_ERR_CLIP', `clip not fetched: ${(err as Error).message}`);
        }
        // Verified before it is cached: a file in the cache is the clip its name says.
        if (sha256(data) !== hash)
          throw new CommandFailure('EDGE_ERR_CLIP', 'the clip does not match its hash');
        writeFileSync(`${file}.part`, data, { mode: 0o600 });
        renameSync(`${file}.part`, file);
      });
      return { file };
    }
    if (!this.ctx.hub)
      throw new CommandFailure('EDGE_ERR_UNSUPPORTED', 'this gateway has no hub link for live talk');
    return { live: source.live.session };
  }

  private begin(job: Job): void {
    const { params } = job;
    const { codec, ttl } = this.config;
    const gain = (this.config.controlUrl ? 100 : this.volume) / 100;
    const output = [
      '-af',
      `volume=${gain.toFixed(2)}`,
      ...(codec === 'pcma'
        ? ['-ac', '1', '-ar', '8000', '-c:a', 'pcm_alaw']
        : ['-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip']),
      '-flush_packets',
      '1',
      '-f',
      'rtp',
      `${this.config.rtp}?ttl=${ttl}&pkt_size=1200`,
    ];
    const input =
      'file' in job.input
        ? ['-re', '-stream_loop', String(params.repeat - 1), '-i', job.input.file]
        : // Live: no probing, and small reads (20 ms): the pipe's default 32 KiB blocks are a second of talk.
          [
            '-probesize',
            '32',
            '-analyzeduration',
            '0',
            '-fflags',
            'nobuffer',
            '-blocksize',
            '640',
            '-f',
            's16le',
            '-ar',
            String(TALK_SAMPLE_RATE),
            '-ac',
            '1',
            '-i',
            'pipe:0',
          ];
    const proc = spawn(
      ffmpegPath(),
      ['-hide_banner', '-loglevel', 'error', '-nostdin', ...input, ...output],
      {
        stdio: ['file' in job.input ? 'ignore' : 'pipe', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    proc.stderr?.on('data', (d) => {
      stderr = (stderr + d).slice(-500);
    });
    const startedAt = Date.now();
    const playing: Playing = {
      job,
      proc,
      startedAt,
      progress: setInterval(
        () =>
          this.ctx.event('playback.progress', 'info', {
            broadcast: params.broadcast,
            playedMs: Date.now() - startedAt,
          }),
        PROGRESS_MS,
      ),
    };
    this.playing = playing;
    if ('live' in job.input) playing.talk = this.openTalk(job.input.live, playing);
    this.ctx.event('playback.started', 'info', {
      broadcast: params.broadcast,
      priority: params.priority,
      source: Object.keys(params.source)[0] as string,
    });
    this.report();
    proc.on('error', (err) => {
      playing.ending ??= { state: 'failed', reason: `ffmpeg: ${err.message}` };
    });
    proc.on('close', (code) => {
      clearInterval(playing.progress);
      playing.talk?.close();
      const durationMs = Date.now() - startedAt;
      const ending = playing.ending;
      if (ending?.state === 'interrupted')
        this.ctx.event('playback.interrupted', 'info', {
          broadcast: params.broadcast,
          by: ending.by,
          durationMs,
        });
      else if (ending?.state === 'failed' || (code !== 0 && 'file' in job.input))
        this.ctx.event('playback.failed', 'warning', {
          broadcast: params.broadcast,
          reason:
            ending?.state === 'failed'
              ? ending.reason
              : `encoder exited ${code}: ${stderr.trim().slice(0, 200)}`,
          durationMs,
        });
      else this.ctx.event('playback.finished', 'info', { broadcast: params.broadcast, durationMs });
      if (this.playing === playing) {
        this.playing = undefined;
        const next = this.queue.shift();
        if (next && !this.stopped) this.begin(next);
        else this.report();
      }
    });
  }

  /** Live talk: the gateway connects out to the hub's talk session and feeds what arrives to ffmpeg. */
  private openTalk(session: string, playing: Playing): WebSocket {
    const target = this.ctx.hub?.talkTarget(session);
    const ws = new WebSocket(target?.url as string, {
      headers: { Authorization: target?.authorization as string },
      ...(target?.ca ? { ca: target.ca } : {}),
      maxPayload: 64 * 1024,
      handshakeTimeout: 10_000,
    });
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (!binary) return;
      const stdin = playing.proc.stdin;
      if (stdin && !stdin.destroyed && stdin.writableLength < 256 * 1024) stdin.write(data);
    });
    ws.on('close', () => playing.proc.stdin?.end());
    ws.on('error', (err) => {
      playing.ending ??= { state: 'failed', reason: `talk connection: ${err.message}` };
      playing.proc.stdin?.end();
    });
    return ws;
  }

  /** Ends what plays (SIGTERM, then SIGKILL), resolving once ffmpeg has exited. */
  private end(playing: Playing, ending: NonNullable<Playing['ending']>): Promise<void> {
    playing.ending ??= ending;
    if (this.playing === playing) this.playing = undefined;
    const proc = playing.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
      proc.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  }

  private async stopBroadcast(broadcast: string): Promise<unknown> {
    const queued = this.queue.findIndex((j) => j.params.broadcast === broadcast);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.ctx.event('playback.interrupted', 'info', { broadcast, by: 'stop', durationMs: 0 });
      return { state: 'removed' };
    }
    if (this.playing?.job.params.broadcast === broadcast) {
      const playing = this.playing;
      await this.end(playing, { state: 'interrupted', by: 'stop' });
      const next = this.queue.shift();
      if (next && !this.stopped) this.begin(next);
      return { state: 'stopped' };
    }
    return { state: 'not_playing' };
  }
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** One preparation per file at a time, shared by every speaker that asks meanwhile. */
const inFlight = new Map<string, Promise<void>>();
function once(file: string, work: () => Promise<void>): Promise<void> {
  let p = inFlight.get(file);
  if (!p) {
    p = work().finally(() => inFlight.delete(file));
    inFlight.set(file, p);
  }
  return p;
}

export const ipSpeaker: AdapterDefinition<IpSpeakerConfig> = {
  type: 'ip-speaker',
  configSchema,
  capabilities: ['audio.broadcast', 'volume', 'tts', 'clip', 'talk'],
  create: (config, ctx) => new IpSpeaker(config, ctx),
};
