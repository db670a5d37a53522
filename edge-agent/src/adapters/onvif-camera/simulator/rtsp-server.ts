/**
 * A small RTSP 1.0 server (RFC 2326) for the simulated camera, so the demo needs no RTSP server
 * installed: OPTIONS, DESCRIBE, SETUP (RTP over the RTSP connection, "interleaved", or over UDP),
 * PLAY, TEARDOWN and GET_PARAMETER/SET_PARAMETER as keep-alives, with Digest authentication like a
 * camera. Each mount relays one RtpFeed to every client; a client that cannot keep up loses packets
 * rather than holding the others back. Requests are bounded in size and clients in number.
 */

import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { DigestAuth } from './digest-auth.ts';
import type { RtpFeed } from './rtp-feed.ts';

const MAX_REQUEST_BYTES = 8192;
const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;

export interface RtspServerOptions {
  host?: string;
  port?: number;
  auth?: DigestAuth;
  maxClients?: number;
}

interface Session {
  id: string;
  mount: string;
  transport:
    | { kind: 'tcp'; channels: [number, number] }
    | { kind: 'udp'; host: string; ports: [number, number] };
  unsubscribe?: () => void;
}

export class RtspServer {
  private server: Server | undefined;
  private udp: [UdpSocket, UdpSocket] | undefined;
  private readonly mounts = new Map<string, RtpFeed>();
  private readonly clients = new Set<Socket>();
  /** Requests served, by method (tests read them, e.g. to see who played a stream). */
  readonly served = new Map<string, number>();
  port = 0;

  constructor(private readonly options: RtspServerOptions = {}) {}

  mount(path: string, feed: RtpFeed): void {
    this.mounts.set(path, feed);
  }

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  url(path: string): string {
    return `rtsp://${this.host}:${this.port}${path}`;
  }

  get playing(): number {
    return this.clients.size;
  }

  async start(): Promise<void> {
    this.udp = [createSocket('udp4'), createSocket('udp4')];
    for (const s of this.udp) {
      s.on('error', () => {
        /* a client's port went away */
      });
      await new Promise<void>((resolve) => s.bind(0, this.host, resolve));
    }
    this.server = createServer((socket) => this.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.options.port ?? 0, this.host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    for (const s of this.udp ?? []) s.close();
    this.udp = undefined;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  private onConnection(socket: Socket): void {
    if (this.clients.size >= (this.options.maxClients ?? 32)) {
      socket.end('RTSP/1.0 453 Not Enough Bandwidth\r\nCSeq: 0\r\n\r\n');
      return;
    }
    this.clients.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(65_000, () => socket.destroy());
    const sessions = new Map<string, Session>();
    let buffer = Buffer.alloc(0);
    const closeAll = () => {
      for (const s of sessions.values()) s.unsubscribe?.();
      sessions.clear();
      this.clients.delete(socket);
    };
    socket.on('close', closeAll);
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      for (;;) {
        // Interleaved data from the client (its RTCP receiver reports): skip it.
        if (buffer[0] === 0x24) {
          if (buffer.length < 4) return;
          const total = 4 + buffer.readUInt16BE(2);
          if (buffer.length < total) return;
          buffer = buffer.subarray(total);
          continue;
        }
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buffer.length > MAX_REQUEST_BYTES) socket.destroy();
          return;
        }
        const head = buffer.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (length > MAX_REQUEST_BYTES) return void socket.destroy();
        if (buffer.length < end + 4 + length) return;
        buffer = buffer.subarray(end + 4 + length);
        void this.handle(socket, head, sessions);
      }
    });
  }

  private async handle(socket: Socket, head: string, sessions: Map<string, Session>): Promise<void> {
    const [requestLine = '', ...lines] = head.split('\r\n');
    const [method = '', uri = ''] = requestLine.split(' ');
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const cseq = headers.get('cseq') ?? '0';
    this.served.set(method, (this.served.get(method) ?? 0) + 1);
    const reply = (status: string, extra: Record<string, string> = {}, body = '') => {
      if (socket.destroyed) return;
      let out = `RTSP/1.0 ${status}\r\nCSeq: ${cseq}\r\nServer: Qianliyan camera simulator\r\n`;
      for (const [k, v] of Object.entries(extra)) out += `${k}: ${v}\r\n`;
      if (body) out += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
      socket.write(`${out}\r\n${body}`);
    };
    if (method === 'OPTIONS')
      return reply('200 OK', {
        Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, SET_PARAMETER',
      });
    const auth = this.options.auth;
    if (auth && !auth.verify(headers.get('authorization'), method))
      return reply('401 Unauthorized', { 'WWW-Authenticate': auth.challenge() });
    const path = mountPath(uri);
    const mount = [...this.mounts.keys()].find((m) => path === m || path.startsWith(`${m}/`));
    const feed = mount ? this.mounts.get(mount) : undefined;
    switch (method) {
      case 'DESCRIBE': {
        if (!feed || !mount) return reply('404 Not Found');
        try {
          const sdp = await feed.sdp(this.host, `${this.url(mount)}/trackID=0`);
          return reply(
            '200 OK',
            { 'Content-Base': `${this.url(mount)}/`, 'Content-Type': 'application/sdp' },
            sdp,
          );
        } catch {
          return reply('503 Service Unavailable');
        }
      }
      case 'SETUP': {
        if (!feed || !mount) return reply('404 Not Found');
        const transport = headers.get('transport') ?? '';
        const id = headers.get('session')?.split(';')[0] ?? randomBytes(8).toString('hex');
        let session: Session;
        if (/RTP\/AVP\/TCP/i.test(transport)) {
          const [a = 0, b = 1] = (/interleaved=(\d+)-(\d+)/.exec(transport)?.slice(1) ?? []).map(Number);
          session = { id, mount, transport: { kind: 'tcp', channels: [a, b] } };
          reply('200 OK', {
            Transport: `RTP/AVP/TCP;unicast;interleaved=${a}-${b}`,
            Session: `${id};timeout=60`,
          });
        } else {
          const ports = /client_port=(\d+)-(\d+)/.exec(transport);
          if (!ports || !this.udp) return reply('461 Unsupported Transport');
          const host = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
          session = {
            id,
            mount,
            transport: { kind: 'udp', host, ports: [Number(ports[1]), Number(ports[2])] },
          };
          const server = `${this.udp[0].address().port}-${this.udp[1].address().port}`;
          reply('200 OK', {
            Transport: `RTP/AVP;unicast;client_port=${ports[1]}-${ports[2]};server_port=${server}`,
            Session: `${id};timeout=60`,
          });
        }
        sessions.get(id)?.unsubscribe?.();
        sessions.set(id, session);
        return;
      }
      case 'PLAY': {
        const session = sessions.get(headers.get('session')?.split(';')[0] ?? '');
        const playing = session ? this.mounts.get(session.mount) : undefined;
        if (!session || !playing) return reply('454 Session Not Found');
        reply('200 OK', {
          Session: session.id,
          Range: 'npt=0.000-',
          'RTP-Info': `url=${this.url(session.mount)}/trackID=0;seq=${(playing.lastSeq + 1) & 0xffff};rtptime=${playing.lastTimestamp}`,
        });
        session.unsubscribe?.();
        session.unsubscribe = playing.subscribe((channel, packet) =>
          this.send(socket, session, channel, packet),
        );
        return;
      }
      case 'TEARDOWN': {
        const id = headers.get('session')?.split(';')[0] ?? '';
        sessions.get(id)?.unsubscribe?.();
        sessions.delete(id);
        return reply('200 OK');
      }
      case 'GET_PARAMETER':
      case 'SET_PARAMETER':
        return reply('200 OK', headers.get('session') ? { Session: headers.get('session') as string } : {});
      default:
        return reply('405 Method Not Allowed');
    }
  }

  private send(socket: Socket, session: Session, channel: 0 | 1, packet: Buffer): void {
    const t = session.transport;
    if (t.kind === 'udp') {
      this.udp?.[channel].send(packet, t.ports[channel], t.host);
      return;
    }
    // A slow reader loses packets instead of buffering without bound.
    if (socket.destroyed || socket.writableLength > MAX_BUFFERED_BYTES) return;
    const header = Buffer.allocUnsafe(4);
    header[0] = 0x24;
    header[1] = t.channels[channel];
    header.writeUInt16BE(packet.length, 2);
    socket.cork();
    socket.write(header);
    socket.write(packet);
    socket.uncork();
  }
}

function mountPath(uri: string): string {
  try {
    return new URL(uri).pathname.replace(/\/+$/, '');
  } catch {
    return uri;
  }
}
