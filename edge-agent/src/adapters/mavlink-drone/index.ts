/**
 * The `mavlink-drone` adapter: one device per vehicle (system id) on a MAVLink UDP link, as a ground
 * station sees it. State is kept at full rate (vehicle.ts); telemetry goes up at `uplinkHz`; the
 * vehicle's events (armed, mode changes, STATUSTEXT, low battery) go up as they happen. Commands
 * (return to launch, land, hold, go to, set mode) are MAVLink commands answered by COMMAND_ACK,
 * resent a few times as MAVLink's command protocol expects, or a timeout. The planned route is
 * downloaded with the mission protocol and announced in the descriptor.
 *
 * The link is judged on everything the vehicle sends: nothing at all from it for `linkLossMs` is
 * link loss (an event, and the device unreachable until it is heard again). HEARTBEAT identifies the
 * vehicle (autopilot, airframe, mode, armed) and brings it online the first time, but it is only one
 * message a second among dozens: autopilots and radios let it slip to one every few seconds under
 * load while the rest flows (a flight with heartbeats 3–6 s apart and ~100 other frames in each gap
 * raised five false link-loss alarms when only heartbeats counted).
 *
 * Identity: the descriptor's model is the autopilot, airframe and version (`ArduPilot VTOL
 * 4.5.1`), rebuilt whenever a heartbeat or AUTOPILOT_VERSION changes it; `firmware` carries the full
 * version and build. Both AUTOPILOT_VERSION and HOME_POSITION are asked for once the vehicle is
 * known (ArduPilot sends them only on request); home goes up as `home_lat`/`home_lon`/`home_alt`.
 *
 * Trust (link.ts): the vehicle is heard only from the address its config names (`peer`, or the
 * udpout target), and, with `signing`, only in MAVLink 2 frames signed with its key; commands go
 * only there, signed. What the link refuses is counted (`link_refused` in telemetry) and logged;
 * what the kernel dropped before the link could read it, too (`link_drops`).
 */
import { ID_PATTERN } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { common } from 'node-mavlink';
import { VideoSessions } from '../../video/video-actions.ts';
import { deviceText } from '../device-text.ts';
import {
  type ActionTable,
  type AdapterContext,
  type AdapterDefinition,
  CommandFailure,
  type DeviceAdapter,
  type DeviceDescriptor,
} from '../types.ts';
import { MAV_RESULT, type MavCommand, requestMessage, type Target, TO_MAVLINK } from './commands.ts';
import type { Frame } from './framing.ts';
import { GCS_SYSID, type LinkRefusal, MavlinkLink, type PeerSpec, parseLinkUrl, parsePeer } from './link.ts';
import { MavlinkSigning, readSigningKey } from './signing.ts';
import { decode, MSG, type VehicleEvent, VehicleState } from './vehicle.ts';

const configSchema = Type.Object(
  {
    type: Type.Literal('mavlink-drone'),
    id: Type.String({ pattern: `^${ID_PATTERN}$`, description: 'device id, unique on this gateway' }),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    sysid: Type.Integer({
      minimum: 1,
      maximum: 254,
      default: 1,
      description: 'the vehicle’s MAVLink system id',
    }),
    link: Type.String({
      pattern: '^udp(in|out)://[^:/]+:\\d{1,5}$',
      default: 'udpin://127.0.0.1:14550',
      description:
        'udpin://host:port to listen on that address of the gateway (the vehicle sends here; name the LAN interface’s address, 0.0.0.0 only on purpose) or udpout://host:port to reach the vehicle',
    }),
    peer: Type.Optional(
      Type.String({
        pattern: '^(first|\\d{1,3}(\\.\\d{1,3}){3}(:\\d{1,5})?)$',
        description:
          'udpin only, and required there: the address the vehicle sends from, `ip` (any source port; commands go to the port it last sent a valid frame from) or `ip:port`; frames from anywhere else are dropped and counted. `first` trusts whoever is heard first and only them (for a link nobody else can reach). A udpout vehicle is the link’s own address',
      }),
    ),
    signing: Type.Optional(
      Type.Object(
        {
          keyFile: Type.String({
            minLength: 1,
            description:
              'file on the gateway holding the vehicle’s 32-byte MAVLink 2 signing key as 64 hex digits',
          }),
          linkId: Type.Integer({
            minimum: 0,
            maximum: 255,
            default: 1,
            description: 'the link id this ground station signs with',
          }),
        },
        {
          additionalProperties: false,
          description:
            'MAVLink 2 message signing, for a vehicle that signs: unsigned, badly signed and replayed frames are refused and counted; commands are signed',
        },
      ),
    ),
    position: Type.Object(
      { lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) },
      {
        additionalProperties: false,
        description: 'where to show the drone before its first GPS fix (its base)',
      },
    ),
    uplinkHz: Type.Number({
      minimum: 0.2,
      maximum: 50,
      default: 5,
      description: 'telemetry sent up per second (full rate is kept locally)',
    }),
    linkLossMs: Type.Integer({
      minimum: 500,
      maximum: 60_000,
      default: 3000,
      description:
        'nothing at all heard from the vehicle this long (no frame of its system id, heartbeat or any other) is link loss',
    }),
    recvBufferBytes: Type.Integer({
      minimum: 65_536,
      maximum: 64 * 1024 * 1024,
      default: 4 * 1024 * 1024,
      description:
        'receive buffer of the link’s UDP socket, so bursts (a log replay, a busy link) are not dropped by the kernel; the largest of the link’s devices wins, and the kernel caps it at net.core.rmem_max (raise that with sysctl where it is lower)',
    }),
    ackTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 10_000,
      default: 1500,
      description: 'wait for COMMAND_ACK before resending',
    }),
    commandAttempts: Type.Integer({
      minimum: 1,
      maximum: 5,
      default: 3,
      description: 'sends of a command before it times out',
    }),
    video: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'the drone’s RTSP video, shown as a camera on the video wall',
      }),
    ),
  },
  { additionalProperties: false },
);

interface MavlinkDroneConfig {
  type: 'mavlink-drone';
  id: string;
  name: string;
  sysid: number;
  link: string;
  peer?: string;
  signing?: { keyFile: string; linkId: number };
  position: { lat: number; lon: number };
  uplinkHz: number;
  linkLossMs: number;
  recvBufferBytes?: number;
  ackTimeoutMs: number;
  commandAttempts: number;
  video?: string;
}

const DEFAULT_RECV_BUFFER = 4 * 1024 * 1024;

class MavlinkDrone implements DeviceAdapter {
  private link: MavlinkLink | undefined;
  private readonly vehicle: VehicleState;
  private uplinkTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private changed = false;
  private linkLost = false;
  private heardFrom = false;
  /** When the vehicle was last heard: any frame of its system id the link accepted. */
  private lastHeardAt: number | null = null;
  private route: Array<{ lat: number; lon: number; alt?: number }> = [];
  private model = 'MAVLink vehicle';
  private readonly acks = new Map<number, (result: number) => void>();
  private mission:
    | { count: number; items: Array<{ lat: number; lon: number; alt: number }>; done: (ok: boolean) => void }
    | undefined;
  private readonly onFrame = (frame: Frame) => {
    if (frame.sysid === this.config.sysid) this.handle(frame);
  };

  constructor(
    private readonly config: MavlinkDroneConfig,
    private readonly ctx: AdapterContext,
  ) {
    this.vehicle = new VehicleState(config.sysid);
    const video = config.video ? splitCredentials(config.video) : undefined;
    if (video) this.video = new VideoSessions({ rtspSource: async () => video }, ctx.hub, ctx.log);
  }

  get id(): string {
    return this.config.id;
  }

  /** What this drone's link refused, by reason (tests and diagnostics). */
  get linkRefused(): Readonly<Record<LinkRefusal, number>> | undefined {
    return this.link?.refused;
  }

  /** The drone's camera, when it has one: pushed to the hub like any camera. */
  private video: VideoSessions | undefined;

  private readonly flightActions: ActionTable = Object.fromEntries(
    Object.entries(TO_MAVLINK).map(([action, build]) => [
      action,
      async (params: Record<string, unknown>) => this.command(action, build(this.target(), params)),
    ]),
  );

  get actions(): ActionTable {
    return { ...this.flightActions, ...(this.video?.actions ?? {}) };
  }

  describe(): DeviceDescriptor {
    const v = this.vehicle;
    const firmware = deviceText(v.firmware);
    return {
      kind: 'drone',
      name: this.config.name,
      model: this.model,
      ...(firmware ? { firmware } : {}),
      position: v.hasFix ? { lat: v.lat as number, lon: v.lon as number } : this.config.position,
      ...(v.heading !== null ? { heading: v.heading } : {}),
      capabilities: [
        'telemetry.position',
        'telemetry.battery',
        'mavlink',
        ...(this.config.video ? ['video', 'snapshot'] : []),
      ],
      // The URL (and any credentials in it) stays on the gateway.
      ...(this.config.video ? { streams: [{ name: 'main' as const }] } : {}),
      ...(this.route.length > 0 ? { route: this.route.slice(0, 500) } : {}),
    };
  }

  start(): void {
    const problem = configProblems(this.config)[0];
    if (problem) {
      this.ctx.log.error({ problem }, 'drone not started');
      this.ctx.availability(false, problem);
      return;
    }
    let signing: MavlinkSigning | undefined;
    if (this.config.signing) {
      try {
        signing = new MavlinkSigning(readSigningKey(this.config.signing.keyFile), this.config.signing.linkId);
      } catch (err) {
        this.ctx.log.error({ err: (err as Error).message }, 'cannot read the MAVLink signing key');
        this.ctx.availability(false, 'the gateway cannot read this drone’s signing key');
        return;
      }
    }
    const peer: PeerSpec | undefined = this.config.peer ? parsePeer(this.config.peer) : undefined;
    this.link = MavlinkLink.acquire(this.config.link, this.ctx.log);
    this.link.wantRecvBuffer(this.config.recvBufferBytes ?? DEFAULT_RECV_BUFFER);
    this.link.register(this.config.sysid, peer, signing);
    this.link.on('frame', this.onFrame);
    this.link.once('error', (err) =>
      this.ctx.availability(false, `cannot open ${this.config.link}: ${err.message}`),
    );
    this.ctx.availability(false, 'no heartbeat from the vehicle yet');
    this.uplinkTimer = setInterval(() => this.upload(), 1000 / this.config.uplinkHz);
    this.watchdog = setInterval(() => this.checkLink(), Math.min(250, this.config.linkLossMs / 4));
  }

  stop(): void {
    void this.video?.stopAll();
    clearInterval(this.uplinkTimer);
    clearInterval(this.watchdog);
    this.link?.off('frame', this.onFrame);
    this.link?.unregister(this.config.sysid);
    this.link?.release();
    this.link = undefined;
  }

  private target(): Target {
    const v = this.vehicle;
    return {
      sysid: this.config.sysid,
      compid: v.autopilotCompid ?? 1,
      autopilot: v.autopilot,
      vehicleType: v.vehicleType,
    };
  }

  private handle(frame: Frame): void {
    const now = Date.now();
    const events = this.vehicle.apply(frame, now);
    this.changed = true;
    for (const e of events) this.report(e);
    this.lastHeardAt = now;
    if (frame.msgid === MSG.HEARTBEAT && this.vehicle.lastHeartbeatAt === now) this.onHeartbeat();
    else if (this.heardFrom) this.onHeard();
    if (frame.msgid === MSG.AUTOPILOT_VERSION || frame.msgid === MSG.HEARTBEAT) this.describeVehicle();
    if (frame.msgid === MSG.COMMAND_ACK) {
      const ack = decode(frame) as { command: number; result: number; targetSystem: number } | undefined;
      if (ack && (ack.targetSystem === GCS_SYSID || ack.targetSystem === 0))
        this.acks.get(Number(ack.command))?.(Number(ack.result));
    } else if (this.mission) this.onMissionFrame(frame);
  }

  private report(e: VehicleEvent): void {
    this.ctx.event(e.type, e.severity, e.data as Record<string, unknown>);
  }

  /** A heartbeat: the first one identifies the vehicle and brings it online. */
  private onHeartbeat(): void {
    if (!this.heardFrom) {
      this.heardFrom = true;
      this.model = this.vehicle.description;
      this.announcedFirmware = this.vehicle.firmware;
      this.ctx.availability(true);
      this.ctx.metaChanged();
      this.askIdentity();
      void this.downloadMission();
    }
    this.onHeard();
  }

  /** Any frame from a vehicle already known: the link is back if it was lost. */
  private onHeard(): void {
    if (this.linkLost) {
      this.linkLost = false;
      this.ctx.event('link.restored', 'info', {});
      this.ctx.availability(true);
    }
  }

  /** The model follows what the vehicle says about itself (a later AUTOPILOT_VERSION, a type change). */
  private describeVehicle(): void {
    if (!this.heardFrom) return;
    const model = this.vehicle.description;
    const firmware = this.vehicle.firmware;
    if (model === this.model && firmware === this.announcedFirmware) return;
    this.model = model;
    this.announcedFirmware = firmware;
    this.ctx.log.info({ sysid: this.config.sysid, model, firmware }, 'vehicle described');
    this.ctx.metaChanged();
  }

  private announcedFirmware: string | null = null;
  private publishedDrops: number | undefined;

  /**
   * Asks for AUTOPILOT_VERSION and HOME_POSITION (MAV_CMD_REQUEST_MESSAGE): ArduPilot sends them
   * only when asked or, for home, when it changes; a gateway that starts during a flight would
   * otherwise never learn either. Unanswered requests cost nothing (no waiting, no retry).
   */
  private askIdentity(): void {
    for (const msgid of [MSG.AUTOPILOT_VERSION, MSG.HOME_POSITION])
      this.link?.send(this.config.sysid, requestMessage(this.target(), msgid).message);
  }

  private checkLink(): void {
    const last = this.lastHeardAt;
    if (!this.heardFrom || last === null || this.linkLost) return;
    const silent = Date.now() - last;
    if (silent > this.config.linkLossMs) {
      this.linkLost = true;
      this.ctx.event('link.lost', 'alarm', { silentMs: silent });
      this.ctx.availability(
        false,
        `nothing heard from the vehicle for ${Math.round(silent / 1000)} s (no heartbeat, no telemetry)`,
      );
      this.changed = true;
    }
  }

  private upload(): void {
    // New drops are news even when the vehicle fell silent (they may be why).
    const drops = this.link?.kernelDrops?.drops;
    if (drops !== undefined && drops !== this.publishedDrops) this.changed = true;
    if (!this.changed) return;
    this.changed = false;
    const v = this.vehicle;
    const values: Record<string, number | string | boolean> = {
      armed: v.armed,
      link_quality: Math.round(v.linkQuality * 100),
      link_lost: this.linkLost,
      gps_fix: v.gpsFix,
      distance_m: Math.round(v.distanceM),
    };
    // Frames refused on this drone's link (bad checksum, unknown, cut off), since the link opened.
    const counts = this.link?.counts;
    if (counts) values.link_errors = counts.crcErrors + counts.unknown + counts.truncated;
    // Refused by the link's trust rules (foreign source, unsigned, bad signature, replayed).
    if (this.link) values.link_refused = this.link.refusedTotal;
    // Dropped by the kernel before the link could read them (receive buffer full).
    if (drops !== undefined) {
      values.link_drops = drops;
      this.publishedDrops = drops;
    }
    if (v.home) {
      values.home_lat = Number(v.home.lat.toFixed(7));
      values.home_lon = Number(v.home.lon.toFixed(7));
      if (Number.isFinite(v.home.alt)) values.home_alt = Number(v.home.alt.toFixed(1));
    }
    if (v.hasFix) {
      values.lat = Number((v.lat as number).toFixed(7));
      values.lon = Number((v.lon as number).toFixed(7));
    }
    const optional: Array<[string, number | string | null, number]> = [
      ['alt', v.relAlt, 1],
      ['heading', v.heading, 1],
      ['speed', v.groundSpeed, 1],
      ['climb', v.climb, 1],
      ['battery', v.battery, 0],
      ['voltage', v.voltage, 2],
      ['satellites', v.satellites, 0],
    ];
    for (const [key, value, digits] of optional)
      if (typeof value === 'number') values[key] = Number(value.toFixed(digits));
    if (v.mode) values.mode = v.mode;
    this.ctx.telemetry(values);
  }

  /** Sends a command, resending as COMMAND_LONG's `confirmation` counts up, until COMMAND_ACK. */
  private async command(action: string, cmd: MavCommand): Promise<unknown> {
    const link = this.link;
    if (!link || this.vehicle.lastHeartbeatAt === null)
      throw new CommandFailure('EDGE_ERR_NO_VEHICLE', `no heartbeat from system ${this.config.sysid}`);
    if (this.acks.has(cmd.command))
      throw new CommandFailure('EDGE_ERR_BUSY', 'the same command is still waiting for its acknowledgement');
    try {
      for (let attempt = 0; attempt < this.config.commandAttempts; attempt++) {
        if ('confirmation' in cmd.message) (cmd.message as { confirmation: number }).confirmation = attempt;
        link.send(this.config.sysid, cmd.message);
        const result = await new Promise<number | null>((resolve) => {
          const timer = setTimeout(() => resolve(null), this.config.ackTimeoutMs);
          this.acks.set(cmd.command, (r) => {
            if (r === 5) return; // IN_PROGRESS: the final answer follows
            clearTimeout(timer);
            resolve(r);
          });
        });
        if (result === null) continue;
        const name = MAV_RESULT[result] ?? `RESULT_${result}`;
        if (result !== 0)
          throw new CommandFailure(`EDGE_ERR_MAV_${name}`, `the vehicle answered ${name} to ${action}`);
        return { result: name, mode: this.vehicle.mode };
      }
      throw new CommandFailure(
        'EDGE_ERR_TIMEOUT',
        `no COMMAND_ACK after ${this.config.commandAttempts} attempts`,
      );
    } finally {
      this.acks.delete(cmd.command);
    }
  }

  /** Mission download (MISSION_REQUEST_LIST → COUNT → REQUEST_INT/ITEM_INT … → ACK): the route. */
  private async downloadMission(): Promise<void> {
    const link = this.link;
    if (!link || this.mission) return;
    const mission: NonNullable<MavlinkDrone['mission']> = { count: -1, items: [], done: () => {} };
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      mission.done = (success) => {
        clearTimeout(timer);
        resolve(success);
      };
      this.mission = mission;
      const list = new common.MissionRequestList();
      list.targetSystem = this.config.sysid;
      list.targetComponent = this.target().compid;
      list.missionType = 0 as never;
      link.send(this.config.sysid, list);
    });
    const { items } = mission;
    this.mission = undefined;
    if (!ok) {
      this.ctx.log.info({ sysid: this.config.sysid }, 'no mission downloaded from the vehicle');
      return;
    }
    this.route = items
      .filter((i) => i.lat !== 0 || i.lon !== 0)
      .map((i) => ({ lat: i.lat, lon: i.lon, alt: i.alt }));
    this.ctx.metaChanged();
  }

  private onMissionFrame(frame: Frame): void {
    const m = this.mission;
    const link = this.link;
    if (!m || !link) return;
    const request = (seq: number) => {
      const r = new common.MissionRequestInt();
      r.targetSystem = this.config.sysid;
      r.targetComponent = this.target().compid;
      r.seq = seq;
      r.missionType = 0 as never;
      link.send(this.config.sysid, r);
    };
    const data = decode(frame) as Record<string, number> | undefined;
    if (!data) return;
    if (frame.msgid === MSG.MISSION_COUNT) {
      m.count = Number(data.count);
      if (m.count === 0) {
        m.done(true);
        return;
      }
      request(0);
    } else if (frame.msgid === MSG.MISSION_ITEM_INT && m.count > 0) {
      const seq = Number(data.seq);
      if (seq !== m.items.length) return;
      m.items.push({ lat: Number(data.x) / 1e7, lon: Number(data.y) / 1e7, alt: Number(data.z) });
      if (m.items.length < m.count) request(m.items.length);
      else {
        const ack = new common.MissionAck();
        ack.targetSystem = this.config.sysid;
        ack.targetComponent = this.target().compid;
        ack.type = 0 as never; // MAV_MISSION_ACCEPTED
        ack.missionType = 0 as never;
        link.send(this.config.sysid, ack);
        m.done(true);
      }
    }
  }
}

/** `rtsp://user:pass@host/path` as an address without credentials, and the credentials. */
function splitCredentials(uri: string): { url: string; username?: string; password?: string } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { url: uri }; // ffmpeg will say what is wrong with it
  }
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return { url: url.toString(), ...(username ? { username, password } : {}) };
}

/** What the schema cannot say: a listening link must name its vehicle. */
function configProblems(config: MavlinkDroneConfig): string[] {
  const problems: string[] = [];
  let mode: 'in' | 'out' | undefined;
  try {
    mode = parseLinkUrl(config.link).mode;
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (mode === 'in' && !config.peer)
    problems.push(
      `/peer: ${config.link} listens, so it must name the vehicle’s address (ip, ip:port, or "first" on purpose)`,
    );
  if (mode === 'out' && config.peer)
    problems.push(`/peer: a udpout link’s vehicle is its own address (${config.link}); peer is for udpin`);
  return problems;
}

export const mavlinkDrone: AdapterDefinition<MavlinkDroneConfig> = {
  type: 'mavlink-drone',
  configSchema,
  check: configProblems,
  capabilities: ['telemetry.position', 'telemetry.battery', 'mavlink'],
  create: (config, ctx) => new MavlinkDrone(config, ctx),
};
