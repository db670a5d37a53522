/**
 * A small RTSP relay inside the agent, so a camera's password never sits on ffmpeg's command line.
 *
 * ffmpeg's RTSP client takes credentials only in the URL (`rtsp://user:pass@…`), and every local
 * user can read a process's arguments (/proc/PID/cmdline). So ffmpeg is given a URL on this relay
 * instead — `rtsp://127.0.0.1:PORT/TOKEN/<the camera's path>` — and the relay forwards each request
 * to the camera, with the camera's URL in the request line and an Authorization header it computes
 * itself: HTTP Digest (RFC 2617/7616, as RTSP cameras speak it), answering the camera's 401
 * challenge and re-sending the request. Basic is never sent: RTSP here is plaintext TCP, and Basic
 * would put the password on the wire. Responses go back with ffmpeg's own CSeq; interleaved media
 * (`$` frames, RTP over the RTSP connection: rtspInputArgs forces TCP) passes through untouched in
 * both directions.
 *
 * Who may use it:
 *  - it listens on 127.0.0.1 only, on an ephemeral port, while a session is open;
 *  - each session has a random token (24 bytes), good for one connection: the ffmpeg it was made
 *    for connects within milliseconds, and a token read from that ffmpeg's arguments by another
 *    local user is already spent;
 *  - where /proc/net/tcp can be read (Linux), a connection from a process of another user is
 *    refused outright;
 *  - a request may name only the relay's own URL or the camera's host and port (a camera's SDP or
 *    Content-Base may name absolute URLs); anything else is refused, never forwarded: the relay
 *    connects to the camera and nowhere else.
 * Refusals are counted by reason and logged (throttled), never with the password.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { digestAuthorization } from '../adapters/onvif-camera/http-digest.ts';
import { ThrottledLog } from '../throttled-log.ts';
import { stripUserinfo } from './media-address.ts';

const MAX_HEAD_BYTES = 16 * 1024;
const MAX_BODY_BYTES = 64 * 1024;
const MAX_PENDING = 32;
const DEFAULT_RTSP_PORT = 554;

export type RelayRefusal = 'bad_token' | 'other_user' | 'foreign_uri' | 'basic_only' | 'bad_request';

export interface RtspTarget {
  /** The camera's RTSP URL, without credentials. */
  url: string;
  username: string;
  password: string;
}

export interface RelaySession {
  /** What ffmpeg opens: no credentials in it. */
  url: string;
  close(): void;
}

interface Session {
  token: string;
  camera: URL;
  cameraPort: number;
  username: string;
  password: string;
  used: boolean;
  sockets: Set<Socket>;
  log: Logger;
}

/** One RTSP message (request or response) as read off a connection. */
interface Message {
  /** Request line or status line. */
  start: string;
  headers: Array<[string, string]>;
  body: Buffer;
}

const header = (m: Message, name: string): string | undefined =>
  m.headers.find(([k]) => k.toLowerCase() === name)?.[1];

export class RtspAuthRelay {
  private static instance: RtspAuthRelay | undefined;

  /** The agent's relay (one listener for every stream, open while any session is). */
  static shared(log: Logger): RtspAuthRelay {
    RtspAuthRelay.instance ??= new RtspAuthRelay(log);
    return RtspAuthRelay.instance;
  }

  private server: Server | undefined;
  private listening: Promise<number> | undefined;
  private readonly sessions = new Map<string, Session>();
  private readonly throttled: ThrottledLog;
  readonly refused: Record<RelayRefusal, number> = {
    bad_token: 0,
    other_user: 0,
    foreign_uri: 0,
    basic_only: 0,
    bad_request: 0,
  };

  constructor(private readonly log: Logger) {
    this.throttled = new ThrottledLog(log.child({ module: 'rtsp-relay' }), 10_000, 1000);
  }

  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  /** Opens a session for one ffmpeg; `close()` ends it (and its connection). */
  async open(target: RtspTarget, log: Logger = this.log): Promise<RelaySession> {
    const camera = new URL(target.url);
    if (camera.protocol !== 'rtsp:') throw new Error(`the relay speaks rtsp:// only, not ${camera.protocol}`);
    camera.username = '';
    camera.password = '';
    const token = randomBytes(24).toString('base64url');
    const session: Session = {
      token,
      camera,
      cameraPort: Number(camera.port) || DEFAULT_RTSP_PORT,
      username: target.username,
      password: target.password,
      used: false,
      sockets: new Set(),
      log,
    };
    this.sessions.set(token, session);
    const port = await this.listen();
    return {
      url: `rtsp://127.0.0.1:${port}/${token}${camera.pathname === '/' ? '' : camera.pathname}${camera.search}`,
      close: () => {
        if (this.sessions.get(token) !== session) return;
        this.sessions.delete(token);
        for (const s of session.sockets) s.destroy();
        if (this.sessions.size === 0) this.shutdown();
      },
    };
  }

  private listen(): Promise<number> {
    if (this.listening) return this.listening;
    const server = createServer((client) => this.onConnection(client));
    this.server = server;
    this.listening = new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as { port: number }).port);
      });
    });
    this.listening.catch(() => this.shutdown());
    return this.listening;
  }

  private shutdown(): void {
    this.server?.close();
    this.server = undefined;
    this.listening = undefined;
  }

  private refuse(reason: RelayRefusal, fields: object, client?: Socket, status?: string): void {
    this.refused[reason] += 1;
    this.throttled.warn(reason, { reason, refused: this.refused[reason], ...fields }, 'RTSP relay refused');
    if (client && status) client.end(`RTSP/1.0 ${status}\r\nCSeq: 0\r\n\r\n`);
    else client?.destroy();
  }

  private onConnection(client: Socket): void {
    client.on('error', () => client.destroy());
    const relayPort = this.port;
    const uid = relayPort !== undefined ? peerUid(client.remotePort ?? 0, relayPort) : undefined;
    if (uid !== undefined && process.getuid && uid !== process.getuid()) {
      this.refuse('other_user', { uid }, client);
      return;
    }
    let session: Session | undefined;
    let forward: (message: Message) => void = () => {};
    // The first request names the session; nothing is forwarded before it is known.
    const reader = new MessageReader(
      (message) => {
        if (session) return forward(message);
        const token = tokenOf(message.start.split(' ')[1] ?? '', relayPort);
        const found = token ? this.sessions.get(token) : undefined;
        if (!found || found.used) return this.refuse('bad_token', {}, client, '404 Not Found');
        found.used = true;
        session = found;
        forward = this.bridge(found, client, reader);
        forward(message);
      },
      () => this.refuse('bad_request', {}, client),
    );
    client.on('data', (chunk: Buffer) => reader.push(chunk));
  }

  /** Connects to the camera for `session` and returns what forwards one client request there. */
  private bridge(session: Session, client: Socket, clientReader: MessageReader): (m: Message) => void {
    const relayPort = this.port as number;
    const camera = createConnection(session.cameraPort, session.camera.hostname);
    camera.setNoDelay(true);
    client.setNoDelay(true);
    session.sockets.add(client).add(camera);
    const end = () => {
      client.destroy();
      camera.destroy();
      session.sockets.delete(client);
      session.sockets.delete(camera);
    };
    client.on('close', end);
    camera.on('close', end);
    camera.on('error', (err) => {
      session.log.warn({ err: err.message }, 'RTSP relay: the camera connection failed');
      end();
    });
    // Interleaved data from ffmpeg (its RTCP receiver reports) goes to the camera as is.
    clientReader.onInterleaved = (frame) => camera.write(frame);

    let cseq = 0;
    let challenge: { header: string; nc: number } | undefined;
    const pending = new Map<
      number,
      { clientCseq: string; request: Message; method: string; uri: string; retried: boolean }
    >();

    const send = (entry: {
      request: Message;
      method: string;
      uri: string;
      clientCseq: string;
      retried: boolean;
    }) => {
      if (pending.size >= MAX_PENDING) return end();
      cseq += 1;
      pending.set(cseq, entry);
      const lines = [`${entry.method} ${entry.uri} RTSP/1.0`, `CSeq: ${cseq}`];
      for (const [k, v] of entry.request.headers)
        if (!/^(cseq|authorization|proxy-authorization|content-length)$/i.test(k)) lines.push(`${k}: ${v}`);
      if (challenge) {
        challenge.nc += 1;
        lines.push(
          `Authorization: ${digestAuthorization(challenge.header, entry.method, entry.uri, session.username, session.password, challenge.nc)}`,
        );
      }
      if (entry.request.body.length > 0) lines.push(`Content-Length: ${entry.request.body.length}`);
      camera.write(
        Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), entry.request.body]),
      );
    };

    const cameraReader = new MessageReader(
      (response) => {
        const id = Number(header(response, 'cseq'));
        const entry = pending.get(id);
        pending.delete(id);
        if (!entry) return; // nothing of ours: an answer to nothing is not passed on
        const status = Number(response.start.split(' ')[1]);
        if (status === 401 && !entry.retried) {
          const offers = response.headers
            .filter(([k]) => k.toLowerCase() === 'www-authenticate')
            .map(([, v]) => v);
          const digest = offers.find((v) => /^digest\s/i.test(v));
          if (digest) {
            challenge = { header: digest, nc: 0 };
            return send({ ...entry, retried: true });
          }
          // Basic only: the password would cross the LAN in clear. The 401 goes to ffmpeg.
          this.refuse('basic_only', { camera: session.camera.host });
        }
        const lines = [response.start];
        for (const [k, v] of response.headers)
          lines.push(/^cseq$/i.test(k) ? `CSeq: ${entry.clientCseq}` : `${k}: ${v}`);
        client.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), response.body]));
      },
      () => end(),
    );
    cameraReader.onInterleaved = (frame) => {
      // A reader that cannot keep up loses the connection rather than growing our memory.
      if (client.writableLength > 8 * 1024 * 1024) return end();
      client.write(frame);
    };
    camera.on('data', (chunk: Buffer) => cameraReader.push(chunk));

    return (request) => {
      const [method = '', uri = ''] = request.start.split(' ');
      const mapped = mapUri(uri, session, relayPort);
      const clientCseq = header(request, 'cseq') ?? '0';
      if (!mapped) {
        this.refuse('foreign_uri', { method, uri: stripUserinfo(uri).slice(0, 200) });
        client.write(`RTSP/1.0 403 Forbidden\r\nCSeq: ${clientCseq}\r\n\r\n`);
        return;
      }
      send({ request, method, uri: mapped, clientCseq, retried: false });
    };
  }
}

/** The session token in a request URI on this relay, or undefined. */
function tokenOf(uri: string, relayPort: number | undefined): string | undefined {
  const m = /^rtsp:\/\/127\.0\.0\.1:(\d+)\/([A-Za-z0-9_-]{32})(?:[/?]|$)/.exec(uri);
  return m && Number(m[1]) === relayPort ? m[2] : undefined;
}

/** A request URI as the camera must see it, or undefined when it names anything but the camera. */
export function mapUri(
  uri: string,
  session: Pick<Session, 'token' | 'camera' | 'cameraPort'>,
  relayPort: number,
): string | undefined {
  if (uri === '*') return uri;
  const prefix = `rtsp://127.0.0.1:${relayPort}/${session.token}`;
  const origin = `rtsp://${session.camera.host}`;
  if (uri.startsWith(prefix)) {
    const rest = uri.slice(prefix.length);
    if (rest !== '' && !rest.startsWith('/') && !rest.startsWith('?')) return undefined;
    return `${origin}${rest.startsWith('/') ? rest : `/${rest}`}`;
  }
  try {
    const url = new URL(uri);
    if (url.protocol !== 'rtsp:' || url.username || url.password) return undefined;
    if (url.hostname !== session.camera.hostname) return undefined;
    if ((Number(url.port) || DEFAULT_RTSP_PORT) !== session.cameraPort) return undefined;
    return uri;
  } catch {
    return undefined;
  }
}

/**
 * The uid owning the local TCP socket at `localPort` connected to our `relayPort`, from
 * /proc/net/tcp (undefined where that cannot be read).
 */
function peerUid(localPort: number, relayPort: number): number | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(localPort)}`;
  const remote = `0100007F:${hex(relayPort)}`;
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) return Number(f[7]);
  }
  return undefined;
}

/**
 * Splits an RTSP connection's bytes into messages (head + Content-Length body) and interleaved
 * `$` frames, bounded in size (a bad peer loses its connection).
 */
class MessageReader {
  private buffer: Buffer = Buffer.alloc(0);
  onInterleaved: (frame: Buffer) => void = () => {};

  constructor(
    private readonly onMessage: (message: Message) => void,
    private readonly onBad: () => void,
  ) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      if (this.buffer.length === 0) return;
      if (this.buffer[0] === 0x24) {
        if (this.buffer.length < 4) return;
        const total = 4 + this.buffer.readUInt16BE(2);
        if (this.buffer.length < total) return;
        this.onInterleaved(this.buffer.subarray(0, total));
        this.buffer = this.buffer.subarray(total);
        continue;
      }
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0 && this.buffer.length <= MAX_HEAD_BYTES) return;
      if (end < 0 || end > MAX_HEAD_BYTES) {
        this.fail();
        return;
      }
      const [start = '', ...lines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Array<[string, string]> = [];
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
      }
      const length = Number(headers.find(([k]) => k.toLowerCase() === 'content-length')?.[1] ?? 0);
      if (!Number.isInteger(length) || length < 0 || length > MAX_BODY_BYTES) {
        this.fail();
        return;
      }
      if (this.buffer.length < end + 4 + length) return;
      const body = Buffer.from(this.buffer.subarray(end + 4, end + 4 + length));
      this.buffer = this.buffer.subarray(end + 4 + length);
      this.onMessage({ start, headers, body });
    }
  }

  private fail(): void {
    this.buffer = Buffer.alloc(0);
    this.onBad();
  }
}
