/**
 * Is the camera's picture flowing? A bounded RTSP probe (RFC 2326): DESCRIBE, SETUP of the first
 * video track over the RTSP connection (interleaved, so no UDP port is opened on the gateway),
 * PLAY, then wait up to `windowMs` for one RTP packet on the video channel; TEARDOWN and close.
 *
 * Why a probe: a camera whose encoder or sensor died keeps answering ONVIF (the health check's
 * GetSystemDateAndTime), and its RTSP server often keeps answering DESCRIBE too — only the frames
 * stop. Nothing but media proves media. The probe costs one short RTSP session per check on the
 * camera's own sub-stream (the smallest), a few kilobytes.
 *
 * Credentials: Digest only, like the relay (rtsp-relay.ts): RTSP here is plaintext, and Basic would
 * put the password on the wire. Every URL the probe sends a request to (the track's control URL
 * can be absolute in the SDP) must be on the camera's host and port; another is refused, never
 * contacted.
 */
import { createConnection, type Socket } from 'node:net';
import { digestAuthorization } from './http-digest.ts';

const MAX_HEAD_BYTES = 16 * 1024;
const MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_RTSP_PORT = 554;

export interface VideoProbeTarget {
  /** The camera's RTSP URL, without credentials (already checked to be on the camera's host). */
  url: string;
  username: string;
  password: string;
}

export interface VideoProbeOptions {
  /** How long PLAY may go without an RTP packet before the picture is called lost. */
  windowMs: number;
  /** Per RTSP request (DESCRIBE, SETUP, PLAY). */
  timeoutMs: number;
}

/** Why no frame was seen; each is a sentence in the availability reason. */
export type VideoProbeFailure =
  | 'no_frames'
  | 'unreachable'
  | 'unauthorized'
  | 'basic_only'
  | 'refused'
  | 'bad_answer'
  | 'foreign_url'
  | 'timeout';

export type VideoProbeResult =
  | { ok: true; firstFrameMs: number }
  | { ok: false; failure: VideoProbeFailure; detail: string };

export interface RtspResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** One RTSP response head (status line and headers), or undefined when it is not one. */
export function parseRtspHead(head: string): Omit<RtspResponse, 'body'> | undefined {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const m = /^RTSP\/1\.0 (\d{3})(?: |$)/.exec(statusLine);
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    // WWW-Authenticate may come more than once: keep the Digest offer where there is one.
    if (key === 'www-authenticate' && headers.has(key) && !/^digest\s/i.test(value)) continue;
    headers.set(key, value);
  }
  return { status: Number(m[1]), headers };
}

/**
 * The control URL of the first video track in an SDP (RFC 2326 C.1.1): absolute as written, `*`
 * or absent → the base, relative → joined to the base. Undefined when the SDP has no video.
 */
export function videoControlUrl(sdp: string, base: string): string | undefined {
  const lines = sdp.split(/\r?\n/);
  let inVideo = false;
  let found = false;
  let control: string | undefined;
  for (const line of lines) {
    if (line.startsWith('m=')) {
      if (found) break;
      inVideo = line.startsWith('m=video ');
      found = inVideo;
      continue;
    }
    if (inVideo && line.startsWith('a=control:')) control = line.slice('a=control:'.length).trim();
  }
  if (!found) return undefined;
  if (!control || control === '*') return base;
  if (/^rtsp:\/\//i.test(control)) return control;
  return `${base.endsWith('/') ? base : `${base}/`}${control}`;
}

/** True when `url` is an rtsp:// URL on the camera's own host and port, without userinfo. */
export function sameCamera(url: string, camera: URL): boolean {
  try {
    const u = new URL(url);
    return (
      u.protocol === 'rtsp:' &&
      !u.username &&
      !u.password &&
      u.hostname === camera.hostname &&
      (Number(u.port) || DEFAULT_RTSP_PORT) === (Number(camera.port) || DEFAULT_RTSP_PORT)
    );
  } catch {
    return false;
  }
}

/** An interleaved frame (`$`, channel, length) carrying RTP version 2 on `channel`. */
export function isRtpFrame(frame: Buffer, channel: number): boolean {
  return frame.length >= 4 + 12 && frame[1] === channel && (frame[4] as number) >> 6 === 2;
}

export const PROBE_SENTENCES: Record<VideoProbeFailure, string> = {
  no_frames: 'the stream sends no frames',
  unreachable: 'its RTSP server does not accept connections',
  unauthorized: 'its RTSP server refuses the credentials',
  basic_only: 'its RTSP server offers only Basic authentication (never sent in clear)',
  refused: 'its RTSP server refuses the stream',
  bad_answer: 'its RTSP server answers something that is not RTSP',
  foreign_url: 'its stream names a track on another host (not contacted)',
  timeout: 'its RTSP server does not answer',
};

class ProbeError extends Error {
  constructor(
    readonly failure: VideoProbeFailure,
    detail: string,
  ) {
    super(detail);
  }
}

/** Runs one probe; never throws. */
export async function probeVideo(
  target: VideoProbeTarget,
  options: VideoProbeOptions,
): Promise<VideoProbeResult> {
  const camera = new URL(target.url);
  camera.username = '';
  camera.password = '';
  const url = camera.toString();
  const socket = createConnection(Number(camera.port) || DEFAULT_RTSP_PORT, camera.hostname);
  socket.setNoDelay(true);
  const conversation = new Conversation(socket, target);
  try {
    await conversation.connected(options.timeoutMs);
    const described = await conversation.request('DESCRIBE', url, { Accept: 'application/sdp' }, options);
    const base = described.headers.get('content-base') ?? described.headers.get('content-location') ?? url;
    const track = videoControlUrl(described.body, base);
    if (!track) throw new ProbeError('bad_answer', 'the SDP names no video track');
    if (!sameCamera(track, camera)) throw new ProbeError('foreign_url', new URL(track).host.slice(0, 64));
    const setup = await conversation.request(
      'SETUP',
      track,
      { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' },
      options,
    );
    const session = setup.headers.get('session')?.split(';')[0]?.trim();
    if (!session) throw new ProbeError('bad_answer', 'SETUP answered without a session');
    const channel = Number(/interleaved=(\d+)/.exec(setup.headers.get('transport') ?? '')?.[1] ?? 0);
    const frame = conversation.firstRtp(channel, options.windowMs);
    const playAt = Date.now();
    await conversation.request('PLAY', url, { Session: session, Range: 'npt=0.000-' }, options);
    const seen = await frame;
    if (seen === undefined)
      throw new ProbeError('no_frames', `no RTP packet within ${options.windowMs} ms of PLAY`);
    conversation.send('TEARDOWN', url, { Session: session });
    return { ok: true, firstFrameMs: Math.max(0, seen - playAt) };
  } catch (err) {
    if (err instanceof ProbeError) return { ok: false, failure: err.failure, detail: err.message };
    return { ok: false, failure: 'bad_answer', detail: (err as Error).message };
  } finally {
    conversation.close();
  }
}

/** One RTSP connection: requests one at a time, interleaved frames counted as they come. */
class Conversation {
  private buffer: Buffer = Buffer.alloc(0);
  private cseq = 0;
  private challenge: { header: string; nc: number } | undefined;
  private waiting: ((r: RtspResponse | ProbeError) => void) | undefined;
  private frameWatch: { channel: number; resolve: (at: number) => void } | undefined;
  private failure: ProbeError | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly target: VideoProbeTarget,
  ) {
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.fail(
        new ProbeError(
          err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' ? 'unreachable' : 'bad_answer',
          err.code ?? err.message,
        ),
      ),
    );
    socket.on('close', () => this.fail(new ProbeError('unreachable', 'the connection closed')));
  }

  connected(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ProbeError('timeout', 'connect timed out')), timeoutMs);
      this.socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.once('error', () => {
        clearTimeout(timer);
        reject(this.failure ?? new ProbeError('unreachable', 'connect failed'));
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** Writes a request without waiting for its answer. */
  send(method: string, uri: string, headers: Record<string, string>): void {
    this.cseq += 1;
    const lines = [`${method} ${uri} RTSP/1.0`, `CSeq: ${this.cseq}`, 'User-Agent: Qianliyan gateway probe'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (this.challenge) {
      this.challenge.nc += 1;
      lines.push(
        `Authorization: ${digestAuthorization(this.challenge.header, method, uri, this.target.username, this.target.password, this.challenge.nc)}`,
      );
    }
    if (!this.socket.destroyed) this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  }

  /** Sends a request and waits for its answer, answering one Digest challenge. */
  async request(
    method: string,
    uri: string,
    headers: Record<string, string>,
    options: VideoProbeOptions,
  ): Promise<RtspResponse> {
    let response = await this.exchange(method, uri, headers, options.timeoutMs);
    if (response.status === 401) {
      const offer = response.headers.get('www-authenticate') ?? '';
      if (!/^digest\s/i.test(offer))
        throw new ProbeError(offer ? 'basic_only' : 'unauthorized', `${method} 401`);
      if (this.challenge?.header === offer) throw new ProbeError('unauthorized', `${method} 401`);
      this.challenge = { header: offer, nc: 0 };
      response = await this.exchange(method, uri, headers, options.timeoutMs);
      if (response.status === 401) throw new ProbeError('unauthorized', `${method} 401`);
    }
    if (response.status < 200 || response.status > 299)
      throw new ProbeError('refused', `${method} ${response.status}`);
    return response;
  }

  private exchange(
    method: string,
    uri: string,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<RtspResponse> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new ProbeError('timeout', `${method} not answered within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (r) => {
        clearTimeout(timer);
        this.waiting = undefined;
        if (r instanceof ProbeError) reject(r);
        else resolve(r);
      };
      this.send(method, uri, headers);
    });
  }

  /** When the first RTP packet on `channel` arrives (ms epoch), or undefined after `windowMs`. */
  firstRtp(channel: number, windowMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.frameWatch = undefined;
        resolve(undefined);
      }, windowMs);
      this.frameWatch = {
        channel,
        resolve: (at) => {
          clearTimeout(timer);
          this.frameWatch = undefined;
          resolve(at);
        },
      };
    });
  }

  private fail(err: ProbeError): void {
    this.failure ??= err;
    this.waiting?.(err);
  }

  private push(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      if (this.buffer.length === 0) return;
      if (this.buffer[0] === 0x24) {
        if (this.buffer.length < 4) return;
        const total = 4 + this.buffer.readUInt16BE(2);
        if (this.buffer.length < total) return;
        const frame = this.buffer.subarray(0, total);
        this.buffer = this.buffer.subarray(total);
        if (this.frameWatch && isRtpFrame(frame, this.frameWatch.channel))
          this.frameWatch.resolve(Date.now());
        continue;
      }
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0 && this.buffer.length <= MAX_HEAD_BYTES) return;
      const head =
        end < 0 || end > MAX_HEAD_BYTES
          ? undefined
          : parseRtspHead(this.buffer.subarray(0, end).toString('latin1'));
      const length = Number(head?.headers.get('content-length') ?? 0);
      if (!head || !Number.isInteger(length) || length < 0 || length > MAX_BODY_BYTES) {
        this.buffer = Buffer.alloc(0);
        this.fail(new ProbeError('bad_answer', 'not an RTSP answer'));
        this.socket.destroy();
        return;
      }
      if (this.buffer.length < end + 4 + length) return;
      const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(end + 4 + length);
      // Only the answer to the request in flight is taken (TEARDOWN's is not awaited).
      if (Number(head.headers.get('cseq')) === this.cseq) this.waiting?.({ ...head, body });
    }
  }
}
