/**
 * An H.264 or H.265 RTP feed: the simulated camera's encoder sends RTP (and RTCP) to two loopback
 * UDP ports here; the feed keeps the stream's parameter sets (SPS/PPS, and VPS for H.265, from the
 * in-band copies the encoder repeats before every keyframe) for the SDP, and hands each packet to
 * whoever plays it. RFC 6184 (H.264) and RFC 7798 (H.265) packetisation.
 */
import { createSocket, type Socket } from 'node:dgram';

export type PacketListener = (channel: 0 | 1, packet: Buffer) => void;

export class RtpFeed {
  private rtp: Socket | undefined;
  private rtcp: Socket | undefined;
  private sps: Buffer | undefined;
  private pps: Buffer | undefined;
  private vps: Buffer | undefined;
  private readonly listeners = new Set<PacketListener>();
  private paramWaiters: (() => void)[] = [];
  /** The last RTP sequence number and timestamp seen (for RTP-Info). */
  lastSeq = 0;
  lastTimestamp = 0;
  packets = 0;
  /**
   * Nothing is handed on while muted: the camera whose sensor or encoder died while its ONVIF and
   * RTSP servers still answer (DESCRIBE and PLAY succeed, no RTP follows).
   */
  muted = false;

  constructor(
    readonly framerate: number,
    readonly codec: 'h264' | 'h265' = 'h264',
  ) {}

  async start(): Promise<{ rtpPort: number; rtcpPort: number }> {
    const bind = async (onMessage: (msg: Buffer) => void) => {
      const socket = createSocket('udp4');
      socket.on('message', onMessage);
      socket.on('error', () => {
        /* a closed receiver; the encoder's send errors are its own */
      });
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      return socket;
    };
    this.rtp = await bind((packet) => this.onRtp(packet));
    this.rtcp = await bind((packet) => this.emit(1, packet));
    return { rtpPort: this.rtp.address().port, rtcpPort: this.rtcp.address().port };
  }

  stop(): void {
    this.rtp?.close();
    this.rtcp?.close();
    this.rtp = this.rtcp = undefined;
  }

  subscribe(listener: PacketListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once SPS and PPS have been seen (the SDP needs them), or rejects after `timeoutMs`. */
  async parameterSets(timeoutMs: number): Promise<{ sps: Buffer; pps: Buffer; vps?: Buffer }> {
    if (!this.haveParameterSets()) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no ${this.codec === 'h265' ? 'H.265' : 'H.264'} parameter sets from the encoder`),
            ),
          timeoutMs,
        );
        this.paramWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return { sps: this.sps as Buffer, pps: this.pps as Buffer, ...(this.vps ? { vps: this.vps } : {}) };
  }

  private haveParameterSets(): boolean {
    return !!this.sps && !!this.pps && (this.codec === 'h264' || !!this.vps);
  }

  /** The SDP media section for this feed (RFC 6184 §8.2.1, RFC 7798 §7.2). */
  async sdp(host: string, control: string, timeoutMs = 3000): Promise<string> {
    const { sps, pps, vps } = await this.parameterSets(timeoutMs);
    const media =
      this.codec === 'h265'
        ? [
            'a=rtpmap:96 H265/90000',
            `a=fmtp:96 sprop-vps=${vps?.toString('base64')};sprop-sps=${sps.toString('base64')};sprop-pps=${pps.toString('base64')}`,
          ]
        : [
            'a=rtpmap:96 H264/90000',
            `a=fmtp:96 packetization-mode=1;profile-level-id=${sps.subarray(1, 4).toString('hex').toUpperCase()};sprop-parameter-sets=${sps.toString('base64')},${pps.toString('base64')}`,
          ];
    return [
      'v=0',
      `o=- ${Date.now()} 1 IN IP4 ${host}`,
      's=Qianliyan simulated camera',
      'c=IN IP4 0.0.0.0',
      't=0 0',
      'a=control:*',
      'a=range:npt=0-',
      'm=video 0 RTP/AVP 96',
      ...media,
      `a=framerate:${this.framerate}`,
      `a=control:${control}`,
      '',
    ].join('\r\n');
  }

  private onRtp(packet: Buffer): void {
    if (packet.length < 13 || (packet[0] as number) >> 6 !== 2) return;
    this.packets += 1;
    this.lastSeq = packet.readUInt16BE(2);
    this.lastTimestamp = packet.readUInt32BE(4);
    const csrcCount = (packet[0] as number) & 0x0f;
    let offset = 12 + csrcCount * 4;
    if ((packet[0] as number) & 0x10) {
      if (packet.length < offset + 4) return;
      offset += 4 + packet.readUInt16BE(offset + 2) * 4;
    }
    const payload = packet.subarray(offset);
    if (payload.length > 0) this.learnParameterSets(payload);
    this.emit(0, packet);
  }

  private learnParameterSets(payload: Buffer): void {
    if (this.codec === 'h265') {
      this.learnHevcParameterSets(payload);
      return;
    }
    const type = (payload[0] as number) & 0x1f;
    if (type === 7 || type === 8) this.keep(type, payload);
    else if (type === 24) {
      // STAP-A: 16-bit size, then the NAL unit, repeated.
      for (let i = 1; i + 2 <= payload.length; ) {
        const size = payload.readUInt16BE(i);
        const nal = payload.subarray(i + 2, i + 2 + size);
        if (nal.length > 0) this.keep((nal[0] as number) & 0x1f, nal);
        i += 2 + size;
      }
    }
  }

  /** H.265: a 2-byte NAL header, type in bits 1–6; 48 is an aggregation packet (RFC 7798 §4.4.2). */
  private learnHevcParameterSets(payload: Buffer): void {
    if (payload.length < 3) return;
    const type = ((payload[0] as number) >> 1) & 0x3f;
    if (type !== 48) {
      this.keepHevc(type, payload);
      return;
    }
    for (let i = 2; i + 2 <= payload.length; ) {
      const size = payload.readUInt16BE(i);
      const nal = payload.subarray(i + 2, i + 2 + size);
      if (nal.length > 1) this.keepHevc(((nal[0] as number) >> 1) & 0x3f, nal);
      i += 2 + size;
    }
  }

  private keepHevc(type: number, nal: Buffer): void {
    if (type === 32) this.vps = Buffer.from(nal);
    else if (type === 33) this.sps = Buffer.from(nal);
    else if (type === 34) this.pps = Buffer.from(nal);
    else return;
    this.wakeIfReady();
  }

  private keep(type: number, nal: Buffer): void {
    if (type === 7) this.sps = Buffer.from(nal);
    else if (type === 8) this.pps = Buffer.from(nal);
    else return;
    this.wakeIfReady();
  }

  private wakeIfReady(): void {
    if (this.haveParameterSets() && this.paramWaiters.length > 0) {
      for (const wake of this.paramWaiters) wake();
      this.paramWaiters = [];
    }
  }

  private emit(channel: 0 | 1, packet: Buffer): void {
    if (this.muted) return;
    for (const listener of this.listeners) listener(channel, packet);
  }
}
