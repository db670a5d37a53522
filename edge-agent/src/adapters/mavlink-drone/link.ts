/**
 * A MAVLink link over UDP, as a ground station runs it:
 *  - `udpin://host:port`  listen on that address (the gateway's own, never all interfaces unless the
 *    config says 0.0.0.0); the vehicle (or its telemetry bridge) sends to it;
 *  - `udpout://host:port` reach a vehicle that waits for a ground station (MAVProxy's --out); the
 *    socket binds to the local address that routes to the vehicle.
 * Either way the link sends a ground-station HEARTBEAT every second to each vehicle it knows (vehicles
 * use it for their GCS failsafe, and a udpout vehicle learns where to send). One socket per link
 * address, shared by every vehicle configured on it (several vehicles by system id).
 *
 * Trust: a village LAN is not trusted (anyone on it can send UDP, with any source address). Each
 * vehicle on the link is registered with the address it sends from (`peer`) and, where the vehicle
 * signs, its MAVLink 2 signing key. A datagram from an address no vehicle is registered at is
 * dropped; a frame carrying a registered system id from another address, or unsigned / badly
 * signed / replayed where signing is configured, is dropped; each is counted by reason and logged
 * (throttled). Commands go only to the registered vehicle's address, never to "whoever sent last".
 * Our identity on the link: system 255, component 190 (MAV_COMP_ID_MISSIONPLANNER).
 *
 * Bursts: a log replay or a busy link sends faster than the event loop reads when it is busy
 * elsewhere, and the kernel drops what does not fit in the socket's receive buffer (the default,
 * net.core.rmem_default, ~208 KiB, lost half the datagrams of a replay). The buffer is sized to what
 * the devices ask (`recvBufferBytes`, 4 MiB by default; the kernel caps it at net.core.rmem_max, and
 * the link says so in the log), and what the kernel still drops is read from its statistics
 * (udp-drops.ts) and published (`link_drops`).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { type MavLinkData, MavLinkProtocolV2, minimal } from 'node-mavlink';
import type { Logger } from 'pino';
import { ThrottledLog } from '../../throttled-log.ts';
import { type Frame, type FramingCounts, framesIn, newCounts } from './framing.ts';
import { type MavlinkSigning, SignedProtocol, type SigningRefusal } from './signing.ts';
import { type DropReading, UdpDropCounter } from './udp-drops.ts';

export const GCS_SYSID = 255;
export const GCS_COMPID = 190;
const MAV_TYPE_GCS = 6;
const MAV_AUTOPILOT_INVALID = 8;
/** How often the kernel's drop count is read. */
const DROPS_POLL_MS = 1000;

interface Endpoint {
  address: string;
  port: number;
}

/**
 * Where a vehicle sends from: a host (any source port; commands go to the port it last sent a
 * valid frame from), a host and port, or `first`: whoever is heard first, pinned from then on
 * (only for a link nobody else can reach; it must be asked for explicitly).
 */
export type PeerSpec = { kind: 'fixed'; host: string; port?: number } | { kind: 'first' };

/** Why the link dropped a datagram or a frame. */
export type LinkRefusal = 'foreign_source' | SigningRefusal;

export const LINK_REFUSALS: readonly LinkRefusal[] = [
  'foreign_source',
  'unsigned',
  'bad_signature',
  'replayed',
  'stale',
];

export function parseLinkUrl(url: string): { mode: 'in' | 'out'; host: string; port: number } {
  const m = /^udp(in|out):\/\/([^:/]+):(\d{1,5})$/.exec(url);
  if (!m) throw new Error(`not a MAVLink UDP link: ${url} (udpin://host:port or udpout://host:port)`);
  return { mode: m[1] as 'in' | 'out', host: m[2] as string, port: Number(m[3]) };
}

/** `host`, `host:port` or `first` (see PeerSpec). */
export function parsePeer(peer: string): PeerSpec {
  if (peer === 'first') return { kind: 'first' };
  const m = /^([^:/\s]+)(?::(\d{1,5}))?$/.exec(peer);
  if (!m) throw new Error(`not a vehicle address: ${peer} (host, host:port or first)`);
  return { kind: 'fixed', host: m[1] as string, ...(m[2] ? { port: Number(m[2]) } : {}) };
}

/** One vehicle on the link, as its device registered it. */
interface Binding {
  sysid: number;
  peer: PeerSpec;
  signing: MavlinkSigning | undefined;
  /** Where commands go: the configured host and port, the port last heard, or the pinned first peer. */
  endpoint: Endpoint | undefined;
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
  /** Datagrams and frames refused, by reason, since the link opened. */
  readonly refused: Record<LinkRefusal, number> = {
    foreign_source: 0,
    unsigned: 0,
    bad_signature: 0,
    replayed: 0,
    stale: 0,
  };
  private readonly socket: Socket;
  private readonly protocol = new MavLinkProtocolV2(GCS_SYSID, GCS_COMPID);
  private readonly signedProtocol = new SignedProtocol(GCS_SYSID, GCS_COMPID);
  private seq = 0;
  private readonly bindings = new Map<number, Binding>();
  /** The vehicle of a udpout link (its name resolved once bound). */
  private readonly target: Endpoint | undefined;
  private readonly throttled: ThrottledLog;
  private heartbeat: NodeJS.Timeout | undefined;
  private dropsTimer: NodeJS.Timeout | undefined;
  private dropCounter: UdpDropCounter | undefined;
  /** Datagrams read from the socket, from anyone. */
  datagrams = 0;
  /** Datagrams the kernel dropped at the socket (buffer full), when the kernel tells. */
  kernelDrops: DropReading | undefined;
  /** The receive buffer asked for (the largest any device asked) and what the kernel gave. */
  readonly recvBuffer = { requested: 0, effective: 0 };
  /** The local port, once bound. */
  bound: Promise<number>;

  private constructor(
    readonly url: string,
    private readonly log: Logger,
  ) {
    super();
    const { mode, host, port } = parseLinkUrl(url);
    this.throttled = new ThrottledLog(log.child({ link: url }), 10_000, 1000);
    this.socket = createSocket({ type: 'udp4', reuseAddr: false });
    this.target = mode === 'out' ? { address: host, port } : undefined;
    this.bound = this.bind(mode, host, port);
    this.bound.catch((err: Error) => {
      this.log.error({ err, url }, 'MAVLink link cannot bind');
      this.emit('error', err);
    });
  }

  private async bind(mode: 'in' | 'out', host: string, port: number): Promise<number> {
    if (this.target) {
      // Datagrams are matched by the address they come from: a name is resolved once, here.
      this.target.address = (await lookup(host, { family: 4 })).address;
      for (const b of this.bindings.values()) this.register(b.sysid, undefined, b.signing);
    }
    const bindHost = this.target ? await localAddressTowards(this.target.address, port) : host;
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(mode === 'in' ? port : 0, bindHost, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
    this.applyRecvBuffer();
    const local = this.socket.address();
    this.dropCounter = new UdpDropCounter(local.address, local.port);
    return local.port;
  }

  /**
   * Asks for a receive buffer of at least `bytes` (the largest any device on the link asks for wins).
   * Applied at once when the socket is bound, else when it is.
   */
  wantRecvBuffer(bytes: number): void {
    if (bytes <= this.recvBuffer.requested) return;
    this.recvBuffer.requested = bytes;
    if (this.dropCounter) this.applyRecvBuffer();
  }

  private applyRecvBuffer(): void {
    const want = this.recvBuffer.requested;
    if (want <= 0) return;
    try {
      this.socket.setRecvBufferSize(want);
      // Linux doubles what it is given (bookkeeping overhead) and reports the doubled value.
      const got = this.socket.getRecvBufferSize();
      this.recvBuffer.effective = process.platform === 'linux' ? Math.floor(got / 2) : got;
    } catch (err) {
      this.log.warn({ err, url: this.url, bytes: want }, 'MAVLink link: cannot size the receive buffer');
      return;
    }
    if (this.recvBuffer.effective < want)
      this.log.warn(
        { url: this.url, requested: want, effective: this.recvBuffer.effective },
        'MAVLink link: the kernel capped the receive buffer (net.core.rmem_max); raise it (sysctl -w net.core.rmem_max=…) or bursts will be dropped',
      );
  }

  /** Reads the kernel's drop count; logs when it grew. */
  private pollDrops(): void {
    const reading = this.dropCounter?.read();
    if (!reading) return;
    const before = this.kernelDrops?.drops ?? 0;
    this.kernelDrops = reading;
    if (reading.drops > before)
      this.throttled.warn(
        'kernel_drops',
        {
          url: this.url,
          dropped: reading.drops - before,
          drops: reading.drops,
          scope: reading.scope,
          recvBuffer: this.recvBuffer.effective,
        },
        'MAVLink datagrams dropped by the kernel: the receive buffer was full (recvBufferBytes, net.core.rmem_max)',
      );
  }

  /**
   * Registers the vehicle `sysid` with where it sends from and its signing state; frames carrying
   * that system id are accepted only from there (and only signed, when `signing` is given).
   */
  register(sysid: number, peer: PeerSpec | undefined, signing: MavlinkSigning | undefined): void {
    // On a udpout link the vehicle is the link's own target.
    // Without a peer on a udpin link nothing matches: the vehicle is never heard (the adapter
    // reports that configuration error).
    const spec: PeerSpec = this.target
      ? { kind: 'fixed', host: this.target.address, port: this.target.port }
      : (peer ?? { kind: 'fixed', host: '0.0.0.0', port: 0 });
    const endpoint =
      spec.kind === 'fixed' && spec.port !== undefined ? { address: spec.host, port: spec.port } : undefined;
    this.bindings.set(sysid, { sysid, peer: spec, signing, endpoint });
  }

  unregister(sysid: number): void {
    this.bindings.delete(sysid);
  }

  /** Refused datagrams and frames, all reasons together. */
  get refusedTotal(): number {
    return Object.values(this.refused).reduce((a, b) => a + b, 0);
  }

  private start(): void {
    this.socket.on('message', (datagram: Buffer, from: RemoteInfo) => this.onDatagram(datagram, from));
    this.socket.on('error', (err) => this.log.warn({ err, url: this.url }, 'MAVLink link error'));
    void this.bound.then(
      () => {
        this.sendHeartbeat();
        this.heartbeat = setInterval(() => this.sendHeartbeat(), 1000);
        this.dropsTimer = setInterval(() => this.pollDrops(), DROPS_POLL_MS);
      },
      () => {},
    );
  }

  private onDatagram(datagram: Buffer, from: RemoteInfo): void {
    this.datagrams += 1;
    // Cheap check first: a datagram from an address no vehicle sends from is not even parsed.
    if (![...this.bindings.values()].some((b) => matches(b, from))) {
      this.refuse('foreign_source', from, { bytes: datagram.length });
      return;
    }
    for (const frame of framesIn(datagram, this.counts)) {
      if (frame.sysid === GCS_SYSID) continue; // another ground station
      const binding = this.bindings.get(frame.sysid);
      if (binding) {
        // A host that may speak for one vehicle may not speak for another.
        if (!matches(binding, from)) {
          this.refuse('foreign_source', from, { sysid: frame.sysid, msgid: frame.msgid });
          continue;
        }
        const refusal = binding.signing?.check(frame);
        if (refusal) {
          this.refuse(refusal, from, { sysid: frame.sysid, msgid: frame.msgid });
          continue;
        }
        // Learned only from an accepted frame: the port of a host-only peer, the first peer.
        if (!binding.endpoint || binding.peer.kind === 'first' || binding.peer.port === undefined) {
          if (binding.peer.kind === 'first' && !binding.endpoint)
            this.log.info({ sysid: frame.sysid, from: `${from.address}:${from.port}` }, 'vehicle pinned');
          binding.endpoint = { address: from.address, port: from.port };
        }
      }
      // Frames of other systems from a vehicle's address (its radio, a companion computer) go to
      // the devices too; each device takes only its own system id.
      this.emit('frame', frame);
    }
  }

  private refuse(reason: LinkRefusal, from: RemoteInfo, fields: object): void {
    this.refused[reason] += 1;
    this.throttled.warn(
      `${reason}/${from.address}`,
      { reason, from: `${from.address}:${from.port}`, refused: this.refused[reason], ...fields },
      'MAVLink frame refused',
    );
  }

  /** Sends a message to a registered vehicle, at its registered address only. */
  send(sysid: number, message: MavLinkData): boolean {
    const binding = this.bindings.get(sysid);
    const to = binding?.endpoint;
    if (!binding || !to) return false;
    this.write(to, message, binding.signing);
    return true;
  }

  private write(to: Endpoint, message: MavLinkData, signing: MavlinkSigning | undefined): void {
    const bytes = signing
      ? signing.serialize(this.signedProtocol, message, this.seq)
      : this.protocol.serialize(message, this.seq);
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
    // One per vehicle address and signing key (a signing vehicle ignores unsigned heartbeats).
    const sent = new Map<string, Set<MavlinkSigning | undefined>>();
    const targets: Array<[Endpoint, MavlinkSigning | undefined]> = [];
    for (const b of this.bindings.values()) if (b.endpoint) targets.push([b.endpoint, b.signing]);
    if (this.target && targets.length === 0) targets.push([this.target, undefined]);
    for (const [endpoint, signing] of targets) {
      const address = `${endpoint.address}:${endpoint.port}`;
      const keys = sent.get(address) ?? new Set();
      if (keys.has(signing)) continue;
      keys.add(signing);
      sent.set(address, keys);
      this.write(endpoint, hb, signing);
    }
  }

  /** Drops one user; the last one closes the socket. */
  release(): void {
    const entry = MavlinkLink.open.get(this.url);
    if (!entry) return;
    entry.users -= 1;
    if (entry.users > 0) return;
    MavlinkLink.open.delete(this.url);
    clearInterval(this.heartbeat);
    clearInterval(this.dropsTimer);
    this.socket.close();
  }
}

/** Whether a datagram's source is where this vehicle sends from. */
function matches(binding: Binding, from: RemoteInfo): boolean {
  const peer = binding.peer;
  if (peer.kind === 'first')
    return (
      !binding.endpoint || (binding.endpoint.address === from.address && binding.endpoint.port === from.port)
    );
  return peer.host === from.address && (peer.port === undefined || peer.port === from.port);
}

/** The local address the kernel would send from to reach `host` (a udpout link binds to it). */
async function localAddressTowards(host: string, port: number): Promise<string> {
  const probe = createSocket('udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      probe.once('error', reject);
      probe.connect(port, host, () => resolve(probe.address().address));
    });
  } finally {
    probe.close();
  }
}
