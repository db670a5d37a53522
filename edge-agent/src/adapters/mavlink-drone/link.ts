/**
 * A MAVLink link over UDP, as a ground station runs it:
 *  - `udpin://host:port`  listen there; vehicles (or a telemetry bridge) send to it, and commands go
 *    back to the address each system last sent from;
 *  - `udpout://host:port` send to a vehicle that waits for a ground station (MAVProxy's --out).
 * Either way the link sends a ground-station HEARTBEAT every second (vehicles use it for their GCS
 * failsafe, and a udpout vehicle learns where to send). One socket per link address, shared by every
 * vehicle configured on it (several vehicles by system id); frames are handed out by system id.
 * Our identity on the link: system 255, component 190 (MAV_COMP_ID_MISSIONPLANNER).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { type MavLinkData, MavLinkProtocolV2, minimal } from 'node-mavlink';
import type { Logger } from 'pino';
import { type Frame, type FramingCounts, framesIn, newCounts } from './framing.ts';

export const GCS_SYSID = 255;
export const GCS_COMPID = 190;
const MAV_TYPE_GCS = 6;
const MAV_AUTOPILOT_INVALID = 8;

interface Endpoint {
  address: string;
  port: number;
}

export function parseLinkUrl(url: string): { mode: 'in' | 'out'; host: string; port: number } {
  const m = /^udp(in|out):\/\/([^:/]+):(\d{1,5})$/.exec(url);
  if (!m) throw new Error(`not a MAVLink UDP link: ${url} (udpin://host:port or udpout://host:port)`);
  return { mode: m[1] as 'in' | 'out', host: m[2] as string, port: Number(m[3]) };
}

interface LinkEvents {
  frame: [frame: Frame];
  error: [err: Error];
}

export class MavlinkLink extends EventEmitter<LinkEvents> {
  private static readonly open = new Map<string, { link: MavlinkLink; users: number }>();

  /** The link for a URL, opened on first use and shared; release it with `release()`. */
  static acquire(url: string, log: Logger): MavlinkLink {
    const entry = MavlinkLink.open.get(url);
    if (entry) {
      entry.users += 1;
      return entry.link;
    }
    const link = new MavlinkLink(url, log);
    MavlinkLink.open.set(url, { link, users: 1 });
    link.start();
    return link;
  }

  readonly counts: FramingCounts = newCounts();
  private readonly socket: Socket;
  private readonly protocol = new MavLinkProtocolV2(GCS_SYSID, GCS_COMPID);
  private seq = 0;
  private readonly remotes = new Map<number, Endpoint>();
  private readonly target: Endpoint | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  bound: Promise<number>;

  private constructor(
    readonly url: string,
    private readonly log: Logger,
  ) {
    super();
    const { mode, host, port } = parseLinkUrl(url);
    this.socket = createSocket({ type: 'udp4', reuseAddr: false });
    this.target = mode === 'out' ? { address: host, port } : undefined;
    this.bound = new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      const bindPort = mode === 'in' ? port : 0;
      const bindHost = mode === 'in' ? host : '0.0.0.0';
      this.socket.bind(bindPort, bindHost, () => {
        this.socket.off('error', reject);
        resolve(this.socket.address().port);
      });
    });
    this.bound.catch((err: Error) => {
      this.log.error({ err, url }, 'MAVLink link cannot bind');
      this.emit('error', err);
    });
  }

  private start(): void {
    this.socket.on('message', (datagram: Buffer, from: RemoteInfo) => {
      for (const frame of framesIn(datagram, this.counts)) {
        if (frame.sysid === GCS_SYSID) continue; // another ground station
        this.remotes.set(frame.sysid, { address: from.address, port: from.port });
        this.emit('frame', frame);
      }
    });
    this.socket.on('error', (err) => this.log.warn({ err, url: this.url }, 'MAVLink link error'));
    void this.bound.then(
      () => {
        this.sendHeartbeat();
        this.heartbeat = setInterval(() => this.sendHeartbeat(), 1000);
      },
      () => {},
    );
  }

  /** Sends a message to a system: where it last sent from, or the udpout target. */
  send(sysid: number, message: MavLinkData): boolean {
    const to = this.remotes.get(sysid) ?? this.target;
    if (!to) return false;
    this.write(to, message);
    return true;
  }

  private write(to: Endpoint, message: MavLinkData): void {
    const bytes = this.protocol.serialize(message, this.seq);
    this.seq = (this.seq + 1) % 256;
    this.socket.send(bytes, to.port, to.address, (err) => {
      if (err) this.log.debug({ err }, 'MAVLink send failed');
    });
  }

  private sendHeartbeat(): void {
    const hb = new minimal.Heartbeat();
    hb.type = MAV_TYPE_GCS as never;
    hb.autopilot = MAV_AUTOPILOT_INVALID as never;
    hb.baseMode = 0 as never;
    hb.customMode = 0;
    hb.systemStatus = 4 as never; // MAV_STATE_ACTIVE
    hb.mavlinkVersion = 3;
    const to = new Map<string, Endpoint>();
    for (const r of this.remotes.values()) to.set(`${r.address}:${r.port}`, r);
    if (this.target) to.set(`${this.target.address}:${this.target.port}`, this.target);
    for (const endpoint of to.values()) this.write(endpoint, hb);
  }

  /** Drops one user; the last one closes the socket. */
  release(): void {
    const entry = MavlinkLink.open.get(this.url);
    if (!entry) return;
    entry.users -= 1;
    if (entry.users > 0) return;
    MavlinkLink.open.delete(this.url);
    clearInterval(this.heartbeat);
    this.socket.close();
  }
}
