/**
 * Pushes one camera stream to the hub (protocols/src/video.ts): an outbound WebSocket to the hub's
 * own port, authenticated by the gateway's credential, carrying the camera's H.264 remuxed to
 * fragmented MP4 by ffmpeg with `-c copy` (no transcoding: a gateway's CPU is small). ffmpeg and
 * the connection start together, so a wall of cold cameras waits for the slower of the two, not
 * for their sum.
 *
 * The push lasts until one of these, each of which stops ffmpeg and reaps it:
 *  - `stop()` (the hub's `stream.stop`);
 *  - the hub ends the session: close code 4404, or HTTP 404 when a reconnect names a session the
 *    hub no longer has (or 4401/401/403: the credential is refused);
 *  - reconnects keep failing for `policy.giveUpMs`: the hub, if it still wants the stream, starts a
 *    new session (its watchdog) and commands the gateway again, so giving up loses nothing.
 * A dropped uplink, a hub restart or a camera that stops sending ends one attempt; the pusher tries
 * again with backoff and the hub's tile shows "stalled" meanwhile.
 *
 * A dead connection is found by the pusher itself: a 4G link that starts dropping packets sends no
 * FIN or RST, so the socket stays "open" while TCP retransmits for ~15 minutes (tcp_retries2), and
 * the hub's 4404 cannot arrive. That is how two pushers once uploaded into nothing for 18 minutes
 * after their relays had stopped. So the pusher pings every `policy.pingMs`; a connection that has
 * neither answered a ping nor taken any buffered byte for `policy.deadAfterMs` is terminated.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { FMP4_REMUX_OUTPUT, rtspInputArgs } from '@qianliyan/protocols';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { ffmpegPath } from './ffmpeg.ts';

export interface PushPolicy {
  /** A ping this often. */
  pingMs: number;
  /** No pong and no buffered byte taken for this long: the connection is dead. */
  deadAfterMs: number;
  /** Reconnects failing for this long end the push. */
  giveUpMs: number;
}

export const DEFAULT_PUSH_POLICY: PushPolicy = { pingMs: 5000, deadAfterMs: 20_000, giveUpMs: 60_000 };

export interface PushTarget {
  /** ws:// or wss:// URL of the session on the hub. */
  url: string;
  /** `Basic …` for the gateway's credential. */
  authorization: string;
  /** CA certificate for a hub with its own CA. */
  ca?: string;
  policy?: PushPolicy;
}

/** What ffmpeg opens for one attempt, and what to release when the attempt ends. */
export interface PushInput {
  url: string;
  release?: () => void;
}

/** Why a push ended. */
export type PushEnd = 'stopped' | 'hub_ended' | 'refused' | 'gave_up' | 'start_failed';

/** The hub's close codes that end a session for good. */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_NO_SESSION = 4404;

const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;
/** No media from ffmpeg for this long: the camera stopped sending; start over. */
const STALL_MS = 10_000;

export function ffmpegPushArgs(rtspUrl: string, probeBytes = 2048): string[] {
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    ...rtspInputArgs(rtspUrl, probeBytes),
    ...FMP4_REMUX_OUTPUT,
  ];
}

export class StreamPusher {
  private ws: WebSocket | undefined;
  private child: ChildProcess | undefined;
  private input: PushInput | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private backoffMs = 500;
  /** What ffmpeg wrote while the attempt's socket was still connecting. */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private firstBytes: { resolve: () => void; reject: (err: Error) => void } | undefined;
  /** Since when attempts have been failing (undefined while a connection is proven good). */
  private failingSince: number | undefined;
  private readonly policy: PushPolicy;
  bytesSent = 0;
  /** When ffmpeg last handed over media (ms epoch; 0: never): the picture flows while this moves. */
  lastMediaAt = 0;
  attempts = 0;
  /** Why the push ended, once it has. */
  ended: PushEnd | undefined;

  constructor(
    private readonly openInput: () => Promise<PushInput>,
    private readonly target: PushTarget,
    private readonly log: Logger,
  ) {
    this.policy = target.policy ?? DEFAULT_PUSH_POLICY;
  }

  get active(): boolean {
    return !this.stopped;
  }

  get ffmpegPid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts pushing; resolves once media is flowing to the hub, rejects if the first attempt fails. */
  start(timeoutMs = 10_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.firstBytes = undefined;
        reject(new Error(`no media from the camera within ${timeoutMs} ms`));
        void this.stop('start_failed');
      }, timeoutMs);
      this.firstBytes = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.attempt();
    });
  }

  async stop(reason: PushEnd = 'stopped'): Promise<void> {
    this.end(reason);
    clearTimeout(this.retryTimer);
    await this.teardown(1000, 'stream stopped');
  }

  private end(reason: PushEnd): void {
    this.stopped = true;
    this.ended ??= reason;
  }

  private attempt(): void {
    if (this.stopped) return;
    this.attempts += 1;
    const ws = new WebSocket(this.target.url, {
      headers: { Authorization: this.target.authorization },
      ...(this.target.ca ? { ca: this.target.ca } : {}),
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      this.fail(
        ws,
        status === 401 || status === 403 ? CLOSE_UNAUTHORIZED : status === 404 ? CLOSE_NO_SESSION : 1006,
        `hub answered HTTP ${status}`,
      );
    });
    ws.on('error', (err) => this.fail(ws, 1006, err.message));
    ws.on('close', (code, reason) => this.fail(ws, code, reason.toString() || `closed (${code})`));
    ws.on('open', () => {
      this.keepalive(ws);
      for (const chunk of this.early.splice(0)) this.send(ws, chunk);
      this.earlyBytes = 0;
    });
    // ffmpeg starts beside the connection, not after it: its start (loading its libraries, the
    // camera's RTSP handshake) and the uplink's handshake overlap, and what it writes before the
    // socket is open waits in `early`.
    this.early = [];
    this.earlyBytes = 0;
    void this.startFfmpeg(ws);
  }

  /**
   * Pings the hub; the connection is alive while pongs come back or the uplink takes buffered
   * bytes (a slow but working link can hold a ping behind megabytes of video). A connection that
   * has carried media and answers is proof the push works: the give-up clock restarts.
   */
  private keepalive(ws: WebSocket): void {
    let heardAt = Date.now();
    let buffered = 0;
    const sentBefore = this.bytesSent;
    ws.on('pong', () => {
      heardAt = Date.now();
      if (this.bytesSent > sentBefore) this.failingSince = undefined;
    });
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = setInterval(() => {
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      const now = Date.now();
      if (ws.bufferedAmount < buffered) heardAt = now;
      buffered = ws.bufferedAmount;
      if (now - heardAt > this.policy.deadAfterMs) {
        this.fail(ws, 1006, `no answer from the hub for ${now - heardAt} ms (a dead uplink)`, true);
        return;
      }
      ws.ping();
    }, this.policy.pingMs);
  }

  private async startFfmpeg(ws: WebSocket): Promise<void> {
    let input: PushInput;
    try {
      input = await this.openInput();
    } catch (err) {
      return this.fail(ws, 1011, (err as Error).message);
    }
    if (ws !== this.ws || this.stopped) {
      input.release?.();
      return;
    }
    this.input = input;
    // A camera whose SDP does not describe its stream needs a longer probe: after a start without
    // media, the next attempt probes more.
    const probe = this.bytesSent === 0 && this.attempts > 1 ? 1_000_000 : 2048;
    const child = spawn(ffmpegPath(), ffmpegPushArgs(input.url, probe), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-1000);
    });
    child.on('error', (err) => this.fail(ws, 1011, `ffmpeg: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      // Credentials never reach the log: ffmpeg's messages may quote the URL.
      const detail =
        stderr
          .replace(/rtsp:\/\/[^@\s]*@/g, 'rtsp://***@')
          .trim()
          .split('\n')
          .pop() ?? '';
      this.fail(ws, 1011, `ffmpeg exited (${code ?? signal})${detail ? `: ${detail}` : ''}`);
    });
    const stdout = child.stdout as NodeJS.ReadableStream;
    this.armStall(ws);
    stdout.on('data', (chunk: Buffer) => {
      if (ws !== this.ws) return;
      if (ws.readyState === WebSocket.CONNECTING) {
        // Before the socket opens: kept, and past a bound ffmpeg is paused until it opens (a hub
        // slow to answer holds the camera back, never grows the gateway's memory).
        this.early.push(chunk);
        this.earlyBytes += chunk.length;
        this.armStall(ws);
        if (this.earlyBytes > MAX_BUFFERED_BYTES) {
          stdout.pause();
          ws.once('open', () => stdout.resume());
        }
        return;
      }
      if (ws.readyState !== WebSocket.OPEN) return;
      this.send(ws, chunk);
      // Back-pressure: a slow uplink pauses ffmpeg (and so the camera's TCP stream) rather than
      // buffering without bound.
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES && !this.drainTimer) {
        stdout.pause();
        this.drainTimer = setInterval(() => {
          if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount < MAX_BUFFERED_BYTES / 4) {
            clearInterval(this.drainTimer);
            this.drainTimer = undefined;
            stdout.resume();
          }
        }, 50);
      }
    });
  }

  private send(ws: WebSocket, chunk: Buffer): void {
    ws.send(chunk, { binary: true });
    this.bytesSent += chunk.length;
    this.lastMediaAt = Date.now();
    this.armStall(ws);
    if (this.firstBytes) {
      this.firstBytes.resolve();
      this.firstBytes = undefined;
      this.backoffMs = 500;
    }
  }

  private armStall(ws: WebSocket): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => this.fail(ws, 1011, `no media for ${STALL_MS} ms`), STALL_MS);
  }

  /** Ends this attempt; retries unless stopped, the hub ended the session, or retrying has failed too long. */
  private fail(ws: WebSocket, code: number, reason: string, dead = false): void {
    if (ws !== this.ws) return;
    this.ws = undefined;
    const final = code === CLOSE_UNAUTHORIZED || code === CLOSE_NO_SESSION;
    if (this.firstBytes && (final || this.attempts >= 3)) {
      this.firstBytes.reject(new Error(reason));
      this.firstBytes = undefined;
      this.end('start_failed');
    }
    // A dead connection is cut at once: a closing handshake on it would wait for an answer that
    // cannot come.
    void this.teardown(1000, 'restarting', ws, dead);
    if (this.stopped) return;
    if (final) {
      this.log.info({ reason, code }, 'the hub ended the stream session');
      this.end(code === CLOSE_NO_SESSION ? 'hub_ended' : 'refused');
      return;
    }
    const now = Date.now();
    this.failingSince ??= now;
    if (now - this.failingSince >= this.policy.giveUpMs) {
      this.log.warn(
        { reason, failingForMs: now - this.failingSince, attempts: this.attempts },
        'stream push abandoned: reconnects kept failing',
      );
      this.end('gave_up');
      return;
    }
    this.log.warn({ reason, retryInMs: this.backoffMs }, 'stream push interrupted; retrying');
    this.retryTimer = setTimeout(() => this.attempt(), this.backoffMs);
    this.backoffMs = Math.min(30_000, this.backoffMs * 2);
  }

  private async teardown(code: number, reason: string, ws = this.ws, dead = false): Promise<void> {
    clearTimeout(this.stallTimer);
    clearInterval(this.drainTimer);
    this.drainTimer = undefined;
    if (ws === this.ws || !this.ws) clearInterval(this.keepaliveTimer);
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      if (ws.readyState === WebSocket.OPEN && !dead) ws.close(code, reason);
      else ws.terminate();
    }
    if (ws === this.ws) this.ws = undefined;
    const child = this.child;
    const input = this.input;
    this.child = undefined;
    this.input = undefined;
    if (child) await stopChild(child);
    input?.release?.();
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has been reaped. */
export async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
