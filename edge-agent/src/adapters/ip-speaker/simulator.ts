/**
 * A simulated IP loudspeaker that is a real RTP receiver: it listens on a UDP port (unicast, or a
 * multicast group it joins), decodes G.711 A-law (payload type 8) and µ-law (0), applies its volume,
 * and keeps each transmission (one per SSRC, ended by a silence gap) as a recording: duration, RMS
 * level in dBFS, first-packet time, and a WAV file when `recordDir` is set. Anything that is not RTP,
 * or an unsupported payload, is counted and dropped. A small HTTP control API (status, volume,
 * power) stands in for a vendor's; its status counts the RTP packets received (`packets`), which
 * is how the gateway confirms a broadcast was heard. `stopReceiver()` closes only the RTP receiver
 * (a speaker whose audio board died while its control API answers); `start()` after `stop()` is
 * the speaker back on its same ports.
 */
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { alawToPcm, mulawToPcm, rmsDbfs, wavFile } from '../../audio/g711.ts';

export interface Recording {
  ssrc: number;
  codec: 'pcma' | 'pcmu';
  firstPacketAt: number;
  lastPacketAt: number;
  packets: number;
  durationMs: number;
  rmsDbfs: number;
  /** The WAV written for it, when recording to a directory. */
  file?: string;
}

export interface SpeakerSimulatorOptions {
  host?: string;
  /** UDP port for RTP (0: any free one). */
  port?: number;
  /** A multicast group to join (e.g. 239.1.2.3), on `host` as the interface. */
  multicast?: string;
  volume?: number;
  /** Where WAV files of what arrived are written. */
  recordDir?: string;
  /** A transmission ends after this long without packets. */
  silenceGapMs?: number;
}

interface Open {
  codec: 'pcma' | 'pcmu';
  chunks: Int16Array[];
  samples: number;
  firstPacketAt: number;
  lastPacketAt: number;
  packets: number;
}

const MAX_SAMPLES = 8000 * 900; // 15 minutes per transmission

export class SpeakerSimulator extends EventEmitter {
  private socket: Socket | undefined;
  private control: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly open = new Map<number, Open>();
  readonly recordings: Recording[] = [];
  volume: number;
  power = true;
  badPackets = 0;
  /** RTP packets received and played (what the status reports). */
  packets = 0;
  /** When each transmission's first packet arrived. */
  private readonly starts: number[] = [];
  private rtpPort = 0;
  private controlPort = 0;

  constructor(private readonly options: SpeakerSimulatorOptions = {}) {
    super();
    this.volume = options.volume ?? 80;
  }

  /** The RTP port (kept while the receiver is closed, so it reopens there). */
  get port(): number {
    return this.rtpPort;
  }
  get controlUrl(): string {
    return `http://127.0.0.1:${this.controlPort}`;
  }
  get rtpUrl(): string {
    return `rtp://${this.options.multicast ?? this.options.host ?? '127.0.0.1'}:${this.port}`;
  }
  /** True while a transmission is arriving. */
  get playing(): boolean {
    return this.open.size > 0;
  }

  async start(): Promise<void> {
    await this.startReceiver();
    this.timer = setInterval(() => this.closeIdle(), 100);
    this.control = createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url === '/status')
        return send(200, {
          volume: this.volume,
          power: this.power,
          playing: this.playing,
          packets: this.packets,
        });
      if (req.method === 'PUT' && (req.url === '/volume' || req.url === '/power')) {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d) => {
          body += d;
          if (body.length > 1024) req.destroy();
        });
        req.on('end', () => {
          try {
            const value = JSON.parse(body) as { volume?: number; power?: boolean };
            if (
              req.url === '/volume' &&
              Number.isInteger(value.volume) &&
              (value.volume as number) >= 0 &&
              (value.volume as number) <= 100
            )
              this.volume = value.volume as number;
            else if (req.url === '/power' && typeof value.power === 'boolean') this.power = value.power;
            else return send(400, { error: 'bad value' });
            send(200, { volume: this.volume, power: this.power });
          } catch {
            send(400, { error: 'not JSON' });
          }
        });
        return;
      }
      send(404, { error: 'not found' });
    });
    await new Promise<void>((resolve) => this.control?.listen(this.controlPort, '127.0.0.1', resolve));
    this.controlPort = (this.control.address() as AddressInfo).port;
  }

  /** Opens the RTP receiver (on its former port when it had one). */
  async startReceiver(): Promise<void> {
    if (this.socket) return;
    const socket = createSocket({ type: 'udp4', reuseAddr: Boolean(this.options.multicast) });
    this.socket = socket;
    socket.on('message', (msg) => this.onPacket(msg));
    socket.on('error', () => {
      this.badPackets += 1;
    });
    await new Promise<void>((resolve) =>
      socket.bind(
        this.rtpPort || (this.options.port ?? 0),
        this.options.multicast ? undefined : (this.options.host ?? '127.0.0.1'),
        resolve,
      ),
    );
    if (this.options.multicast)
      socket.addMembership(this.options.multicast, this.options.host ?? '127.0.0.1');
    this.rtpPort = (socket.address() as AddressInfo).port;
  }

  /** Closes only the RTP receiver: nothing is heard, the control API still answers. */
  async stopReceiver(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private onPacket(msg: Buffer): void {
    if (!this.power) return;
    // RTP: version 2, at least the fixed 12-byte header.
    if (msg.length < 12 || msg[0] === undefined || msg[0] >> 6 !== 2) {
      this.badPackets += 1;
      return;
    }
    const b0 = msg[0];
    const pt = (msg[1] as number) & 0x7f;
    const ssrc = msg.readUInt32BE(8);
    let offset = 12 + (b0 & 0x0f) * 4;
    if (b0 & 0x10) {
      if (msg.length < offset + 4) {
        this.badPackets += 1;
        return;
      }
      offset += 4 + msg.readUInt16BE(offset + 2) * 4;
    }
    let end = msg.length;
    if (b0 & 0x20) end -= msg[msg.length - 1] as number;
    if (offset > end || (pt !== 8 && pt !== 0)) {
      this.badPackets += 1;
      return;
    }
    const codec = pt === 8 ? 'pcma' : 'pcmu';
    const pcm = (codec === 'pcma' ? alawToPcm : mulawToPcm)(msg.subarray(offset, end), this.volume / 100);
    const now = Date.now();
    let o = this.open.get(ssrc);
    if (!o) {
      o = { codec, chunks: [], samples: 0, firstPacketAt: now, lastPacketAt: now, packets: 0 };
      this.open.set(ssrc, o);
      this.starts.push(now);
      if (this.starts.length > 1000) this.starts.shift();
      this.emit('start', { ssrc, at: now });
    }
    o.lastPacketAt = now;
    o.packets += 1;
    this.packets += 1;
    if (o.samples + pcm.length <= MAX_SAMPLES) {
      o.chunks.push(pcm);
      o.samples += pcm.length;
    }
  }

  /** The first transmission that began at or after `t` (ms epoch), when one has. */
  firstPacketAfter(t: number): number | undefined {
    return this.starts.find((at) => at >= t);
  }

  private closeIdle(now = Date.now()): void {
    for (const [ssrc, o] of this.open)
      if (now - o.lastPacketAt >= (this.options.silenceGapMs ?? 700)) this.finish(ssrc, o);
  }

  private finish(ssrc: number, o: Open): void {
    this.open.delete(ssrc);
    const pcm = new Int16Array(o.samples);
    let at = 0;
    for (const c of o.chunks) {
      pcm.set(c, at);
      at += c.length;
    }
    const recording: Recording = {
      ssrc,
      codec: o.codec,
      firstPacketAt: o.firstPacketAt,
      lastPacketAt: o.lastPacketAt,
      packets: o.packets,
      durationMs: Math.round((pcm.length / 8000) * 1000),
      rmsDbfs: rmsDbfs(pcm),
    };
    if (this.options.recordDir) {
      recording.file = join(this.options.recordDir, `rtp-${ssrc.toString(16)}-${o.firstPacketAt}.wav`);
      writeFileSync(recording.file, wavFile(pcm, 8000));
    }
    if (this.recordings.length >= 1000) this.recordings.shift();
    this.recordings.push(recording);
    this.emit('recording', recording);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const [ssrc, o] of this.open) this.finish(ssrc, o);
    await this.stopReceiver();
    const control = this.control;
    this.control = undefined;
    control?.closeAllConnections();
    await new Promise<void>((resolve) => (control ? control.close(() => resolve()) : resolve()));
  }
}
