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
 * `playback.interrupted`, `playback.failed` (reason), `playback.unconfirmed`. Volume, power and
 * status through the speaker's HTTP control API when it has one (`controlUrl`).
 *
 * Health and honest delivery (status.ts). RTP over UDP is never acknowledged, so an encoder that
 * exited cleanly proves nothing. A speaker with a control API is asked for its status every
 * `healthIntervalMs`: it is available only once it answered (not at start), and unreachable
 * (`SPEAKER_SILENT: …`, 通信中断) after two silent checks in a row — a broadcast to it then fails
 * before it starts, with that reason. A broadcast to it is `finished` only when the speaker
 * confirmed it: its status during or right after the broadcast shows its RTP packet counter risen
 * (or it playing); otherwise it `failed` with what the status showed. A speaker without a control
 * API cannot confirm anything: its broadcasts end `unconfirmed` ("sent, unconfirmed").
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
import {
  parseSpeakerStatus,
  playbackConfirmation,
  type SpeakerStatus,
  SpeakerStatusError,
} from './status.ts';

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
    healthIntervalMs: Type.Integer({
      minimum: 1000,
      maximum: 600_000,
      default: 15_000,
      description:
        'how often the speaker’s control API is asked for its status (GET {controlUrl}/status; a speaker without controlUrl is not checked): the speaker is available only once it answered, and unreachable (SPEAKER_SILENT, 通信中断) after two checks in a row go unanswered',
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
  healthIntervalMs?: number;
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
  /** The speaker's status before it started (the packet counter's baseline). */
  baseline: SpeakerStatus | undefined;
  /** The speaker's status proved it received this broadcast. */
  confirmed: boolean;
  /** Why it is not confirmed (yet): what the status showed, or that it did not answer. */
  unconfirmedWhy?: string;
  /** The status never says anything about playback (no counter, no playing flag). */
  cannotTell?: boolean;
  confirmTimer?: NodeJS.Timeout;
}

const MAX_QUEUE = 8;
const MAX_CLIP_BYTES = 64 * 1024 * 1024;
const PROGRESS_MS = 5000;
/** While a broadcast plays, the speaker's status is asked this often until it confirms. */
const CONFIRM_POLL_MS = 1000;
const STATUS_TIMEOUT_MS = 3000;
const MAX_STATUS_BYTES = 16 * 1024;

class IpSpeaker implements DeviceAdapter {
  readonly id: string;
  private volume: number;
  private power = true;
  private playing: Playing | undefined;
  private readonly queue: Job[] = [];
  private statusTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last status the speaker answered. */
  private lastStatus: SpeakerStatus | undefined;
  /** The speaker answered since the gateway started. */
  private heard = false;
  private silentChecks = 0;
  /** The SPEAKER_SILENT reason while it is unreachable. */
  private unreachable: string | undefined;
  /** The first status check (a broadcast waits for it: the speaker is not available before). */
  private firstCheck: Promise<void> | undefined;
  /** Status checks and their outcomes, for the logs and the tests. */
  readonly counters = { checks: 0, silent: 0, confirmed: 0, notConfirmed: 0, unconfirmed: 0 };

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
    if (this.config.controlUrl) {
      // Not available until it answered: the first check says which.
      this.firstCheck = this.checkHealth();
      this.healthTimer = setInterval(() => void this.checkHealth(), this.config.healthIntervalMs ?? 15_000);
    } else {
      // Nothing to ask: reachable as far as the gateway can know; its broadcasts stay unconfirmed.
      this.ctx.availability(true);
    }
    this.report();
    this.statusTimer = setInterval(() => this.report(), this.config.statusIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.statusTimer);
    clearInterval(this.healthTimer);
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

  /** GET {controlUrl}/status, parsed; throws with a short sentence (no answer, refused, HTTP 500…). */
  private async fetchStatus(): Promise<SpeakerStatus> {
    const url = new URL('/status', this.config.controlUrl);
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      throw new Error(
        e.name === 'TimeoutError' || e.name === 'AbortError'
          ? `no answer within ${STATUS_TIMEOUT_MS / 1000} s`
          : e.cause?.code === 'ECONNREFUSED'
            ? 'connection refused'
            : (e.cause?.code ?? e.message).slice(0, 100),
      );
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`HTTP ${res.status}`);
    }
    const text = await res.text();
    if (text.length > MAX_STATUS_BYTES) throw new Error('status answer too large');
    try {
      return parseSpeakerStatus(JSON.parse(text));
    } catch (err) {
      throw new Error(err instanceof SpeakerStatusError ? err.message : 'the status answer is not JSON');
    }
  }

  /** The heartbeat: available once it answered; unreachable after two silent checks in a row. */
  private async checkHealth(): Promise<void> {
    this.counters.checks += 1;
    try {
      this.lastStatus = await this.fetchStatus();
      this.silentChecks = 0;
      if (!this.heard || this.unreachable) {
        this.ctx.log.info({ status: this.lastStatus }, 'speaker answers its status');
        this.heard = true;
        this.unreachable = undefined;
        this.ctx.availability(true);
      }
    } catch (err) {
      this.counters.silent += 1;
      this.silentChecks += 1;
      if (this.stopped) return;
      // Never heard since start: unreachable at once (it was never available). Heard before: one
      // lost answer is not an outage, two in a row are.
      if (this.heard && this.silentChecks < 2) return;
      const reason = `SPEAKER_SILENT: the speaker’s control API does not answer its status (${(err as Error).message})`;
      if (reason === this.unreachable) return;
      this.unreachable = reason;
      this.ctx.log.warn({ code: 'SPEAKER_SILENT', err: (err as Error).message }, 'speaker unreachable');
      this.ctx.availability(false, reason);
    }
  }

  /** Asks the speaker whether it received `playing`; updates its confirmation. */
  private async confirm(playing: Playing): Promise<void> {
    try {
      const status = await this.fetchStatus();
      this.lastStatus = status;
      const verdict = playbackConfirmation(playing.baseline, status);
      if (verdict === 'confirmed') playing.confirmed = true;
      else if (verdict === 'cannot_tell') playing.cannotTell = true;
      else
        playing.unconfirmedWhy = `SPEAKER_NOT_RECEIVED: the speaker’s status shows no RTP received during the broadcast (packets ${playing.baseline?.packets ?? '?'} → ${status.packets ?? '?'})`;
    } catch (err) {
      playing.unconfirmedWhy = `SPEAKER_SILENT: the speaker did not confirm the broadcast; its control API does not answer (${(err as Error).message})`;
    }
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
    if (this.config.controlUrl) {
      // Known unreachable: the broadcast fails before it starts, with the reason.
      await this.firstCheck;
      if (this.unreachable) throw new CommandFailure('EDGE_ERR_DEVICE_UNREACHABLE', this.unreachable);
    }
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
      baseline: this.lastStatus,
      confirmed: false,
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
    if (this.config.controlUrl)
      playing.confirmTimer = setInterval(() => {
        if (playing.confirmed || playing.cannotTell) return clearInterval(playing.confirmTimer);
        void this.confirm(playing);
      }, CONFIRM_POLL_MS);
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
    proc.on('close', (code) => void this.closed(playing, code, stderr));
  }

  /** The encoder exited: the broadcast's outcome as far as the speaker confirmed it, then the queue. */
  private async closed(playing: Playing, code: number | null, stderr: string): Promise<void> {
    const { job } = playing;
    const { params } = job;
    clearInterval(playing.progress);
    clearInterval(playing.confirmTimer);
    playing.talk?.close();
    const durationMs = Date.now() - playing.startedAt;
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
    else if (!this.config.controlUrl) {
      this.counters.unconfirmed += 1;
      this.ctx.event('playback.unconfirmed', 'info', {
        broadcast: params.broadcast,
        reason: 'SPEAKER_NO_CONTROL_API: sent; this speaker has no control API to confirm it played',
        durationMs,
      });
    } else {
      // The last packets may have arrived after the last poll: one more look.
      if (!playing.confirmed && !this.stopped) await this.confirm(playing);
      if (playing.confirmed) {
        this.counters.confirmed += 1;
        this.ctx.event('playback.finished', 'info', { broadcast: params.broadcast, durationMs });
      } else if (playing.cannotTell && !playing.unconfirmedWhy) {
        this.counters.unconfirmed += 1;
        this.ctx.event('playback.unconfirmed', 'info', {
          broadcast: params.broadcast,
          reason:
            'SPEAKER_CANNOT_CONFIRM: sent; the speaker’s status reports no packet counter or playing state',
          durationMs,
        });
      } else {
        this.counters.notConfirmed += 1;
        this.ctx.event('playback.failed', 'warning', {
          broadcast: params.broadcast,
          reason: (playing.unconfirmedWhy ?? 'SPEAKER_NOT_RECEIVED: the speaker did not confirm it').slice(
            0,
            300,
          ),
          durationMs,
        });
      }
    }
    if (this.playing === playing) {
      this.playing = undefined;
      const next = this.queue.shift();
      if (next && !this.stopped) this.begin(next);
      else this.report();
    }
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
