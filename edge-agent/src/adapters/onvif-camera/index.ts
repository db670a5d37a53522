/**
 * The `onvif-camera` adapter: one ONVIF camera on the village LAN.
 *
 * Connects with the camera's credentials (WS-UsernameToken with the camera's clock offset, or HTTP
 * Digest), reads its identity and media profiles, picks the main and sub streams (the largest and
 * smallest H.264 profiles unless configured) and their RTSP URIs, and its snapshot URI — through
 * Media2 where the camera offers it, Media1 otherwise or where Media2 refuses (media.ts). PTZ is
 * continuous move with a gateway-side stop after the requested time (many cameras ignore ONVIF's
 * Timeout), stop, and presets; positions are normalised with the spaces the camera advertises
 * (ptz-position.ts). Camera events come from a PullPoint subscription (converters.ts turns them
 * into device events). Health: a cheap request every `healthIntervalMs`; failures make the camera
 * unreachable and it is reconnected with backoff. Streams and snapshots go to the hub through
 * `VideoSessions` (video-actions.ts).
 *
 * What it advertises is what works now: `video` and the stream commands only with a stream whose
 * address the camera gave; `snapshot` and its command with a snapshot URI or a stream to grab a
 * frame from; `event.*` only while the PullPoint subscription works (the descriptor is announced
 * again when that changes); `ptz` with a PTZ profile.
 *
 * Every error is a reason code and a sentence (`ONVIF_TIMEOUT: the camera does not answer`,
 * client.ts), in the availability reason, command results and logs. Refused credentials — an HTTP
 * 401 around any SOAP fault included — back off exponentially from `credentialRetryMinMs` to
 * `credentialRetryMaxMs` (cameras lock accounts), and the availability reason says when the next
 * try is.
 *
 * Identity: manufacturer and firmware reach the descriptor (`manufacturer`, `firmware`);
 * placeholders such as "NONE" or an empty string are unknown, i.e. absent (device-text.ts).
 *
 * The camera's address and credentials stay on the gateway: the descriptor names streams, never
 * URLs, and log lines never carry a URL with credentials.
 *
 * The camera itself is not trusted with where its credentials go (media-address.ts): a stream or
 * snapshot address on another host than the camera's own is refused (not contacted), counted,
 * logged and reported as a `media.refused` event; the stream is then not offered. Snapshots use
 * Digest, or Basic only over HTTPS (http-digest.ts); ffmpeg gets no password (rtsp-relay.ts).
 */
import { readFileSync } from 'node:fs';
import { ID_PATTERN, type PtzMoveParams, type StreamName } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { ThrottledLog } from '../../throttled-log.ts';
import { checkMediaUri, type MediaRefusal, stripUserinfo } from '../../video/media-address.ts';
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
import { classify, OnvifClient } from './client.ts';
import {
  type DeviceInfo,
  EventNormalizer,
  type MediaProfile,
  parseDeviceInformation,
  parseNotifications,
  parsePresets,
  parsePtzStatus,
  parseSystemDateAndTime,
  pickStreams,
  soapBody,
  str,
} from './converters.ts';
import { fetchWithDigest, SnapshotRefused } from './http-digest.ts';
import { readProfiles, snapshotUri as readSnapshotUri, streamUri as readStreamUri } from './media.ts';
import { PtzNormaliser, readPtzSpaces } from './ptz-position.ts';
import { escapeXml } from './soap.ts';
import { PROBE_SENTENCES, probeVideo, type VideoProbeResult } from './video-probe.ts';

const configSchema = Type.Object(
  {
    type: Type.Literal('onvif-camera'),
    id: Type.String({ pattern: `^${ID_PATTERN}$`, description: 'device id, unique on this gateway' }),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    position: Type.Object(
      { lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) },
      { additionalProperties: false },
    ),
    heading: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 360,
        description: 'where the lens points at rest, degrees from north',
      }),
    ),
    fov: Type.Optional(
      Type.Number({ minimum: 1, maximum: 360, description: 'horizontal field of view, degrees' }),
    ),
    xaddr: Type.String({
      pattern: '^https?://[^\\s/]+(/\\S*)?$',
      description: 'the device service address, e.g. http://192.168.1.64/onvif/device_service',
    }),
    username: Type.String({ minLength: 1, maxLength: 64 }),
    passwordFile: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'file on the gateway holding the camera password (a camera configured by hand)',
      }),
    ),
    password: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          'the camera password, for a camera provisioned from the hub only: it arrives sealed to this gateway’s key and is opened into memory, never written (docs/provisioning.md)',
      }),
    ),
    profiles: Type.Optional(
      Type.Object(
        {
          main: Type.Optional(
            Type.String({ maxLength: 64, description: 'profile token of the main stream' }),
          ),
          sub: Type.Optional(Type.String({ maxLength: 64, description: 'profile token of the sub-stream' })),
        },
        { additionalProperties: false },
      ),
    ),
    events: Type.Boolean({ default: true, description: 'subscribe to the camera’s events (PullPoint)' }),
    rewriteMediaHost: Type.Boolean({
      default: false,
      description:
        'a camera behind NAT or port forwarding names media addresses on its internal host: use the path and port it names on this camera’s configured host instead. Off, a stream or snapshot address on another host than the camera’s is refused and never contacted (the camera’s credentials go only to its own host either way)',
    }),
    timeoutMs: Type.Integer({
      minimum: 500,
      maximum: 60_000,
      default: 5000,
      description: 'per ONVIF request',
    }),
    healthIntervalMs: Type.Integer({
      minimum: 1000,
      maximum: 600_000,
      default: 30_000,
      description: 'how often the camera is checked',
    }),
    videoCheck: Type.Boolean({
      default: true,
      description:
        'probe the picture (RTSP DESCRIBE, SETUP, PLAY, then wait for RTP) every videoCheckIntervalMs: a camera that answers ONVIF but sends no frames is reported unreachable with VIDEO_LOST (视频丢失) until frames flow again',
    }),
    videoCheckIntervalMs: Type.Optional(
      Type.Integer({
        minimum: 1000,
        maximum: 3_600_000,
        description:
          'how often the picture is probed (default: healthIntervalMs); never shorter than healthIntervalMs (the RTSP server is not asked more often than ONVIF) and longer than videoCheckWindowMs. A lost picture is reported within this interval plus the window',
      }),
    ),
    videoCheckWindowMs: Type.Optional(
      Type.Integer({
        minimum: 200,
        maximum: 60_000,
        description:
          'after PLAY, how long the probe waits for the first RTP packet before the picture is called lost (default: 5000, or half the probe interval when that is shorter). One window without a single packet: the stream is not just slow',
      }),
    ),
    reconnectMinMs: Type.Integer({ minimum: 100, default: 1000, description: 'reconnect backoff base' }),
    reconnectMaxMs: Type.Integer({
      minimum: 1000,
      default: 60_000,
      description: 'reconnect backoff ceiling',
    }),
    credentialRetryMinMs: Type.Integer({
      minimum: 1000,
      maximum: 86_400_000,
      default: 120_000,
      description:
        'after the camera refuses the credentials (ONVIF_UNAUTHORIZED, an HTTP 401 included), wait this long before trying again, doubling at each refusal: cameras lock an account after a few failed logins',
    }),
    credentialRetryMaxMs: Type.Integer({
      minimum: 1000,
      maximum: 86_400_000,
      default: 1_800_000,
      description: 'the longest wait between tries while the credentials are refused',
    }),
  },
  { additionalProperties: false },
);

interface OnvifCameraConfig {
  type: 'onvif-camera';
  id: string;
  name: string;
  position: { lat: number; lon: number };
  heading?: number;
  fov?: number;
  xaddr: string;
  username: string;
  passwordFile?: string;
  /** Opened from the hub's sealed value (provisioning); never in a file. */
  password?: string;
  profiles?: { main?: string; sub?: string };
  events: boolean;
  rewriteMediaHost: boolean;
  timeoutMs: number;
  healthIntervalMs: number;
  videoCheck?: boolean;
  videoCheckIntervalMs?: number;
  videoCheckWindowMs?: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  credentialRetryMinMs?: number;
  credentialRetryMaxMs?: number;
}

interface Connected {
  client: OnvifClient;
  info: DeviceInfo;
  streams: { main?: MediaProfile; sub?: MediaProfile };
  ptz: boolean;
  /** Events are wanted and the camera has an event service. */
  events: boolean;
  /** The last PullPoint subscription attempt succeeded: what `event.*` capabilities depend on. */
  eventsWorking: boolean;
  ptzPosition: PtzNormaliser;
  streamUris: Partial<Record<StreamName, string>>;
  snapshotUri: string | undefined;
  /** Media addresses the camera named and the gateway refused, by media. */
  refused: Partial<Record<StreamName | 'snapshot', { reason: MediaRefusal; host: string }>>;
}

/** Why a media address or its authentication was refused. */
export type CameraMediaRefusal = MediaRefusal | SnapshotRefused['reason'];

class OnvifCamera implements DeviceAdapter {
  private running = false;
  private password = '';
  private conn: Connected | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private videoTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** The VIDEO_LOST reason while the picture is lost (ONVIF answering). */
  private videoLost: string | undefined;
  private moveStopTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  /** Refusals of the credentials in a row (the credential backoff's exponent). */
  private credentialFailures = 0;
  private healthFailures = 0;
  private lastError = '';
  private readonly video: VideoSessions;
  private readonly positionLog: ThrottledLog;
  /** Counted for the tests and the logs. */
  readonly counters = {
    connects: 0,
    failures: 0,
    events: 0,
    eventErrors: 0,
    ptzOutOfRange: 0,
    videoChecks: 0,
    /** Failed probes overruled by a push carrying media meanwhile. */
    videoByPush: 0,
    videoLost: 0,
  };
  /** Failures by reason code (ONVIF_TIMEOUT…), for the logs and the tests. */
  readonly failuresByCode: Record<string, number> = {};
  /** Media addresses and authentications refused, by reason. */
  readonly mediaRefused: Record<CameraMediaRefusal, number> = {
    foreign_host: 0,
    bad_scheme: 0,
    bad_uri: 0,
    basic_over_http: 0,
    unsupported_auth: 0,
  };

  constructor(
    private readonly config: OnvifCameraConfig,
    private readonly ctx: AdapterContext,
  ) {
    this.backoffMs = config.reconnectMinMs;
    this.positionLog = new ThrottledLog(ctx.log, 60_000);
    this.video = new VideoSessions(
      {
        rtspSource: (stream) => this.rtspSource(stream),
        snapshot: () => this.fetchSnapshot(),
      },
      ctx.hub,
      ctx.log,
    );
  }

  get id(): string {
    return this.config.id;
  }

  get connected(): boolean {
    return !!this.conn;
  }

  /** Only what works now: stream commands with a stream, a snapshot with a snapshot URI or a stream. */
  get actions(): ActionTable {
    const c = this.conn;
    if (!c) return {};
    const v = this.video.actions;
    const streams = this.usableStreams(c).length > 0;
    return {
      ...(streams ? { 'stream.start': v['stream.start'], 'stream.stop': v['stream.stop'] } : {}),
      ...(streams || c.snapshotUri ? { 'camera.snapshot': v['camera.snapshot'] } : {}),
      ...(c.ptz ? this.ptzActions : {}),
    };
  }

  /** Streams the camera gave an address for (on its own host). */
  private usableStreams(c: Connected): StreamName[] {
    return (['main', 'sub'] as const).filter((name) => !!c.streams[name] && !!c.streamUris[name]);
  }

  describe(): DeviceDescriptor {
    const { name, position, heading, fov } = this.config;
    const c = this.conn;
    const streams = c
      ? (['main', 'sub'] as const).flatMap((name) => {
          const p = c.streams[name];
          // A stream is offered only when the camera gave its URI.
          if (!p || !c.streamUris[name]) return [];
          return [
            {
              name,
              ...(p.encoding
                ? { codec: p.encoding.toUpperCase() === 'H264' ? 'h264' : p.encoding.toLowerCase() }
                : {}),
              ...(p.width ? { width: p.width } : {}),
              ...(p.height ? { height: p.height } : {}),
              ...(p.fps ? { fps: p.fps } : {}),
            },
          ];
        })
      : [];
    const manufacturer = c ? deviceText(c.info.manufacturer) : undefined;
    const firmware = c ? deviceText(c.info.firmware) : undefined;
    const model = c
      ? [manufacturer, deviceText(c.info.model, 128)].filter(Boolean).join(' ').slice(0, 128)
      : undefined;
    return {
      kind: 'camera',
      name,
      ...(model ? { model } : {}),
      ...(manufacturer ? { manufacturer } : {}),
      ...(firmware ? { firmware } : {}),
      position,
      ...(heading !== undefined ? { heading } : {}),
      ...(fov !== undefined ? { fov } : {}),
      capabilities: [
        ...(streams.length ? ['video'] : []),
        ...(streams.length || c?.snapshotUri ? ['snapshot'] : []),
        ...(c?.ptz ? ['ptz'] : []),
        ...(c?.events && c.eventsWorking
          ? ['event.motion', 'event.tamper', 'event.line_crossing', 'event.intrusion']
          : []),
      ],
      ...(streams.length ? { streams } : {}),
    };
  }

  start(): void {
    this.running = true;
    try {
      this.password = this.config.password ?? readFileSync(this.config.passwordFile ?? '', 'utf8').trim();
    } catch (err) {
      this.ctx.log.error(
        { code: 'ONVIF_PASSWORD_FILE', err: (err as Error).message },
        'cannot read the camera password file',
      );
      this.ctx.availability(
        false,
        'ONVIF_PASSWORD_FILE: the gateway cannot read this camera’s password file',
      );
      return;
    }
    void this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.healthTimer);
    clearInterval(this.videoTimer);
    clearTimeout(this.moveStopTimer);
    await this.video.stopAll();
    this.conn?.client.close();
    this.conn = undefined;
  }

  recordingSource(stream: StreamName) {
    return this.rtspSource(stream);
  }

  /** The ffmpeg processes pushing this camera's streams now. */
  get pushPids(): number[] {
    return this.video.ffmpegPids;
  }

  private async connect(): Promise<void> {
    if (!this.running) return;
    const client = new OnvifClient({
      xaddr: this.config.xaddr,
      username: this.config.username,
      password: this.password,
      timeoutMs: this.config.timeoutMs,
    });
    try {
      await client.connect();
      const info = await client.call('getDeviceInformation', [], parseDeviceInformation);
      const { profiles, via } = await readProfiles(client, this.ctx.log);
      const streams = pickStreams(profiles, this.config.profiles);
      const streamUris: Partial<Record<StreamName, string>> = {};
      for (const name of ['main', 'sub'] as const) {
        const profile = streams[name];
        if (!profile) continue;
        try {
          streamUris[name] = (await readStreamUri(client, this.ctx.log, profile.token)).uri;
        } catch (err) {
          const e = classify(err as Error, undefined, 'GetStreamUri');
          if (e.kind === 'unauthorized') throw e;
          this.ctx.log.warn(
            { code: e.code, err: e.sentence, stream: name },
            'no stream URI for this profile',
          );
        }
      }
      let snapshotUri: string | undefined;
      if (streams.main)
        snapshotUri = await readSnapshotUri(client, this.ctx.log, streams.main.token).then(
          (r) => r.uri,
          (err: Error) => {
            const e = classify(err, undefined, 'GetSnapshotUri');
            if (e.kind === 'unauthorized') throw e;
            this.ctx.log.info(
              { code: e.code, err: e.sentence },
              'no snapshot URI; snapshots are grabbed from the stream',
            );
            return undefined;
          },
        );
      if (!this.running) return client.close();
      // Only addresses on the camera's own host keep their place.
      const cameraHost = new URL(this.config.xaddr).hostname;
      const refused: Connected['refused'] = {};
      const keep = (media: StreamName | 'snapshot', uri: string | undefined, schemes: string[]) => {
        if (!uri) return undefined;
        const check = checkMediaUri(uri, cameraHost, schemes, this.config.rewriteMediaHost);
        if (check.ok) return check.url.toString();
        refused[media] = { reason: check.reason, host: check.host };
        this.mediaRefused[check.reason] += 1;
        this.ctx.log.warn(
          { media, reason: check.reason, uri: stripUserinfo(uri).slice(0, 200), cameraHost },
          'camera media address refused; it is not contacted',
        );
        this.ctx.event('media.refused', 'warning', {
          media,
          reason: check.reason,
          host: check.host.slice(0, 64),
        });
        return undefined;
      };
      for (const name of ['main', 'sub'] as const) {
        const uri = keep(name, streamUris[name], ['rtsp:']);
        if (uri) streamUris[name] = uri;
        else delete streamUris[name];
      }
      snapshotUri = keep('snapshot', snapshotUri, ['http:', 'https:']);
      const services = client.services;
      const ptz = services.ptz && profiles.some((p) => p.ptz);
      const ptzProfile = streams.main?.ptz ? streams.main : profiles.find((p) => p.ptz);
      const spaces = ptz && ptzProfile ? await readPtzSpaces(client, ptzProfile, this.ctx.log) : undefined;
      const events = services.events && this.config.events;
      // The first subscription before the camera is announced: its descriptor says whether events work.
      const eventsWorking = events ? await this.subscribe(client) : false;
      if (!this.running) return client.close();
      this.conn = {
        client,
        info,
        streams,
        ptz,
        events,
        eventsWorking,
        ptzPosition: new PtzNormaliser(spaces, ptzProfile?.ptzConfig ?? {}),
        streamUris,
        snapshotUri,
        refused,
      };
      this.counters.connects += 1;
      this.backoffMs = this.config.reconnectMinMs;
      this.credentialFailures = 0;
      this.healthFailures = 0;
      this.lastError = '';
      this.videoLost = undefined;
      this.ctx.log.info(
        {
          manufacturer: info.manufacturer,
          model: info.model,
          firmware: info.firmware,
          profiles: profiles.length,
          media: via,
          main: streams.main?.token,
          sub: streams.sub?.token,
          streams: this.usableStreams(this.conn),
          snapshot: !!snapshotUri,
          ptz: this.conn.ptz,
          events: eventsWorking,
          clockOffsetMs: client.clockOffsetMs,
        },
        'camera connected',
      );
      this.ctx.availability(true);
      this.ctx.metaChanged();
      this.healthTimer = setInterval(() => void this.checkHealth(), this.config.healthIntervalMs);
      if (this.config.videoCheck !== false && this.usableStreams(this.conn).length > 0)
        this.videoTimer = setInterval(() => void this.checkVideo(), videoCheckTiming(this.config).intervalMs);
      if (this.conn.ptz) void this.reportPosition();
      if (this.conn.events) void this.pullEvents(this.conn);
    } catch (err) {
      client.close();
      this.onFailure(err as Error);
    }
  }

  private onFailure(err: Error): void {
    const e = classify(err, undefined);
    this.counters.failures += 1;
    this.failuresByCode[e.code] = (this.failuresByCode[e.code] ?? 0) + 1;
    clearInterval(this.healthTimer);
    clearInterval(this.videoTimer);
    this.videoLost = undefined;
    const wasConnected = !!this.conn;
    this.conn?.client.close();
    this.conn = undefined;
    if (wasConnected) {
      void this.video.stopAll();
      this.ctx.metaChanged();
    }
    let delay: number;
    let reason = e.reason;
    if (e.kind === 'unauthorized') {
      // Refused credentials: exponential and bounded, whatever the ordinary backoff says.
      const min = this.config.credentialRetryMinMs ?? 120_000;
      const max = Math.max(min, this.config.credentialRetryMaxMs ?? 1_800_000);
      delay = Math.min(max, min * 2 ** Math.min(this.credentialFailures, 30));
      this.credentialFailures += 1;
      reason = `${e.reason}; next try in ${duration(delay)} (waits double up to ${duration(max)}: cameras lock accounts)`;
    } else {
      this.credentialFailures = 0;
      delay = this.backoffMs;
      this.backoffMs = Math.min(this.config.reconnectMaxMs, this.backoffMs * 2);
    }
    if (e.code !== this.lastError) {
      this.ctx.log.warn(
        {
          code: e.code,
          err: e.sentence,
          ...(e.detail ? { detail: e.detail.slice(0, 200) } : {}),
          retryMs: delay,
        },
        'camera unavailable',
      );
      this.lastError = e.code;
    }
    this.ctx.availability(false, reason.slice(0, 256));
    if (!this.running) return;
    // Jitter, never beyond the bound that was announced.
    this.retryTimer = setTimeout(() => void this.connect(), delay * (0.8 + Math.random() * 0.2));
  }

  private async checkHealth(): Promise<void> {
    const c = this.conn;
    if (!c) return;
    const started = Date.now();
    try {
      const time = await c.client.call('getSystemDateAndTime', [], parseSystemDateAndTime);
      this.healthFailures = 0;
      this.ctx.telemetry({
        rtt_ms: Date.now() - started,
        ...(time ? { clock_offset_s: Math.round((time.getTime() - Date.now()) / 1000) } : {}),
        streams_pushing: this.video.active,
      });
      if (c.ptz) await this.reportPosition();
    } catch (err) {
      // One lost answer is not an outage; two in a row are.
      this.healthFailures += 1;
      if (this.healthFailures >= 2 && this.conn === c) this.onFailure(err as Error);
    }
  }

  /**
   * The picture, probed over RTSP on the smallest stream (video-probe.ts); a push of the camera
   * that carried media while the probe ran overrules a failed probe. One window without a
   * single RTP packet while ONVIF answers (asked again right after the probe) is VIDEO_LOST; the first probe that sees a packet again
   * makes the camera available. An ONVIF failure meanwhile takes over (onFailure).
   */
  private async checkVideo(): Promise<void> {
    const c = this.conn;
    if (!c || this.probing) return;
    const stream: StreamName = c.streamUris.sub ? 'sub' : 'main';
    const url = c.streamUris[stream];
    if (!url) return;
    const { windowMs } = videoCheckTiming(this.config);
    const probedAt = Date.now();
    this.probing = true;
    let result: VideoProbeResult;
    try {
      result = await probeVideo(
        { url, username: this.config.username, password: this.password },
        { windowMs, timeoutMs: this.config.timeoutMs },
      );
    } finally {
      this.probing = false;
    }
    this.counters.videoChecks += 1;
    if (this.conn !== c || !this.running) return;
    // A push of this camera that carried media while the probe ran: the picture flows, whatever
    // the probe met (cameras allow few RTSP sessions; a second one may be refused).
    if (!result.ok && this.video.lastMediaAt >= probedAt) {
      this.counters.videoByPush += 1;
      result = { ok: true, firstFrameMs: 0 };
    }
    if (result.ok) {
      if (this.videoLost === undefined) return;
      this.videoLost = undefined;
      this.ctx.log.info({ stream, firstFrameMs: result.firstFrameMs }, 'camera video is back');
      this.ctx.availability(true);
      return;
    }
    // "While ONVIF answers": a camera that is gone altogether is the health check's verdict
    // (unreachable after two failed checks), not a lost picture.
    const onvifAnswers = await c.client
      .call('getSystemDateAndTime', [], parseSystemDateAndTime)
      .then(() => true)
      .catch(() => false);
    if (!onvifAnswers || this.conn !== c || !this.running) return;
    const reason = `VIDEO_LOST: no frames within ${seconds(videoCheckTiming(this.config).windowMs)} of PLAY on the ${stream} stream while ONVIF answers (${PROBE_SENTENCES[result.failure]})`;
    if (reason === this.videoLost) return;
    if (this.videoLost === undefined) this.counters.videoLost += 1;
    this.videoLost = reason;
    this.ctx.log.warn(
      { code: 'VIDEO_LOST', failure: result.failure, detail: result.detail.slice(0, 200), stream },
      'camera video lost',
    );
    this.ctx.availability(false, reason.slice(0, 256));
  }

  private async reportPosition(): Promise<void> {
    const c = this.conn;
    const profile = c?.streams.main;
    if (!c || !profile) return;
    try {
      const status = await c.client.call('getStatus', [{ profileToken: profile.token }], parsePtzStatus);
      if (status.pan === undefined && status.tilt === undefined && status.zoom === undefined) return;
      const p = c.ptzPosition.normalise(status);
      const outOfRange = p.clamped.length + p.dropped.length;
      if (outOfRange > 0) {
        this.counters.ptzOutOfRange += 1;
        this.positionLog.warn(
          'ptz_out_of_range',
          {
            clamped: p.clamped,
            dropped: p.dropped,
            reported: { pan: status.pan, tilt: status.tilt, zoom: status.zoom },
            spaces: { panTilt: status.panTiltSpace, zoom: status.zoomSpace },
          },
          'PTZ position outside the spaces the camera advertises: clamped, or left out when it cannot be normalised',
        );
      }
      if (p.pan === undefined && p.tilt === undefined && p.zoom === undefined && outOfRange === 0) return;
      this.ctx.telemetry({
        ...(p.pan !== undefined ? { pan: p.pan } : {}),
        ...(p.tilt !== undefined ? { tilt: p.tilt } : {}),
        ...(p.zoom !== undefined ? { zoom: p.zoom } : {}),
        ptz_out_of_range: outOfRange,
      });
    } catch (err) {
      const e = classify(err as Error, undefined, 'GetStatus');
      this.ctx.log.debug({ code: e.code, err: e.sentence }, 'PTZ status failed');
    }
  }

  /** CreatePullPointSubscription; whether it worked. */
  private async subscribe(client: OnvifClient): Promise<boolean> {
    try {
      await client.invoke('createPullPointSubscription', []);
      client.boundPullPoint();
      return true;
    } catch (err) {
      const e = classify(err as Error, undefined, 'CreatePullPointSubscription');
      this.counters.eventErrors += 1;
      this.ctx.log.warn({ code: e.code, err: e.sentence }, 'camera events: subscription refused');
      return false;
    }
  }

  /** Events work or stopped working: the descriptor says so. */
  private setEventsWorking(c: Connected, working: boolean): void {
    if (c.eventsWorking === working || this.conn !== c) return;
    c.eventsWorking = working;
    this.ctx.log.info(
      { events: working },
      working ? 'camera events work again' : 'camera events stopped working',
    );
    this.ctx.metaChanged();
  }

  /**
   * The PullPoint loop: pull (long poll), renew; on an error, subscribe again with backoff. The
   * connect made the first subscription; a failed subscription takes the `event.*` capabilities off
   * the descriptor until one succeeds (a pull that fails once does not: it is retried first).
   */
  private async pullEvents(c: Connected): Promise<void> {
    const normalizer = new EventNormalizer();
    let backoff = 1000;
    let subscribed = c.eventsWorking;
    while (this.running && this.conn === c) {
      if (!subscribed) {
        await new Promise((resolve) => setTimeout(resolve, backoff));
        if (!this.running || this.conn !== c) return;
        backoff = Math.min(60_000, backoff * 2);
        subscribed = await this.subscribe(c.client);
        this.setEventsWorking(c, subscribed);
        if (!subscribed) continue;
      }
      try {
        while (this.running && this.conn === c) {
          const xml = await c.client.invoke('pullMessages', [{ messageLimit: 50 }], 90_000);
          for (const n of parseNotifications(xml)) {
            const event = normalizer.normalize(n);
            if (!event) continue;
            this.counters.events += 1;
            this.ctx.event(event.type, event.severity, {
              ...event.data,
              at: new Date(event.ts).toISOString(),
            });
          }
          await c.client.invoke('renew', [{}]).catch(() => undefined);
          backoff = 1000;
        }
      } catch (err) {
        if (!this.running || this.conn !== c) return;
        const e = classify(err as Error, undefined, 'PullMessages');
        this.counters.eventErrors += 1;
        this.ctx.log.warn({ code: e.code, err: e.sentence }, 'camera events interrupted; subscribing again');
        await c.client.invoke('unsubscribe', []).catch(() => undefined);
        subscribed = false;
      }
    }
  }

  /** The stream's address on the camera's own host, and the credentials the relay adds. */
  private async rtspSource(stream: StreamName) {
    const c = this.conn;
    const uri = c?.streamUris[stream] ?? c?.streamUris.main;
    if (!c || !uri) {
      const refusal = c?.refused[stream] ?? c?.refused.main;
      if (refusal)
        throw new CommandFailure(
          'EDGE_ERR_MEDIA_REFUSED',
          `the camera named its ${stream} stream on ${refusal.reason === 'foreign_host' ? `another host (${refusal.host})` : 'an address the gateway does not use'}; refused, its credentials are never sent there (${refusal.reason})`,
        );
      throw new CommandFailure('EDGE_ERR_NO_STREAM', `the camera has no ${stream} stream`);
    }
    return { url: uri, username: this.config.username, password: this.password };
  }

  private async fetchSnapshot(): Promise<Buffer | undefined> {
    const c = this.conn;
    const uri = c?.snapshotUri;
    if (!uri) {
      const refusal = c?.refused.snapshot;
      if (refusal)
        throw new CommandFailure(
          'EDGE_ERR_MEDIA_REFUSED',
          `the camera named its snapshot on another host (${refusal.host}); refused (${refusal.reason})`,
        );
      return undefined;
    }
    try {
      return await fetchWithDigest(uri, this.config.username, this.password, this.config.timeoutMs * 2);
    } catch (err) {
      if (err instanceof SnapshotRefused) {
        this.mediaRefused[err.reason] += 1;
        this.ctx.log.warn({ reason: err.reason, uri: stripUserinfo(uri) }, 'snapshot authentication refused');
        throw new CommandFailure('EDGE_ERR_MEDIA_REFUSED', err.message);
      }
      throw err;
    }
  }

  private profileToken(): string {
    const token = this.conn?.streams.main?.token;
    if (!token) throw new CommandFailure('EDGE_ERR_NO_PTZ', 'the camera has no PTZ profile');
    return token;
  }

  private async ptzCall(method: string, args: unknown[]): Promise<string> {
    const c = this.conn;
    if (!c) throw new CommandFailure('EDGE_ERR_DEVICE_OFFLINE', 'the camera is not connected');
    try {
      return await c.client.invoke(method, args);
    } catch (err) {
      const e = classify(err as Error, undefined);
      throw new CommandFailure(
        e.kind === 'fault'
          ? 'EDGE_ERR_CAMERA_REFUSED'
          : e.kind === 'timeout'
            ? 'EDGE_ERR_TIMEOUT'
            : 'EDGE_ERR_CAMERA',
        e.reason.slice(0, 300),
      );
    }
  }

  private readonly ptzActions: ActionTable = {
    'ptz.move': async (params) => {
      const p = params as PtzMoveParams;
      const profileToken = this.profileToken();
      clearTimeout(this.moveStopTimer);
      await this.ptzCall('continuousMove', [
        { profileToken, x: p.pan, y: p.tilt, zoom: p.zoom, timeout: p.durationMs },
      ]);
      // Many cameras ignore ONVIF's Timeout: the gateway stops the move itself.
      this.moveStopTimer = setTimeout(() => {
        void this.ptzCall('stop', [{ profileToken, panTilt: true, zoom: true }])
          .then(() => this.reportPosition())
          .catch(() => undefined);
      }, p.durationMs);
      return { moving: true, durationMs: p.durationMs };
    },
    'ptz.stop': async () => {
      clearTimeout(this.moveStopTimer);
      await this.ptzCall('stop', [{ profileToken: this.profileToken(), panTilt: true, zoom: true }]);
      void this.reportPosition();
      return { stopped: true };
    },
    'ptz.preset.goto': async (params) => {
      await this.ptzCall('gotoPreset', [
        { profileToken: this.profileToken(), preset: params.preset as string },
      ]);
      setTimeout(() => void this.reportPosition(), 500);
      return { preset: params.preset };
    },
    'ptz.preset.set': async (params) => {
      const token = params.preset as string;
      const xml = await this.ptzCall('setPreset', [
        {
          profileToken: this.profileToken(),
          presetToken: token,
          presetName: escapeXml((params.name as string | undefined) ?? token),
        },
      ]);
      let stored = token;
      try {
        stored =
          str((soapBody(xml).SetPresetResponse as Record<string, unknown> | undefined)?.PresetToken) || token;
      } catch {
        /* an empty answer still means it was stored */
      }
      return { preset: stored };
    },
    'ptz.preset.list': async () => {
      const xml = await this.ptzCall('getPresets', [{ profileToken: this.profileToken() }]);
      try {
        const presets = parsePresets(xml, 500);
        return { presets: presets.map((p) => ({ preset: p.token, name: p.name.slice(0, 64) })) };
      } catch (err) {
        throw new CommandFailure('EDGE_ERR_CAMERA', classify(err as Error, xml, 'GetPresets').reason);
      }
    },
  };
}

/** The picture probe's period and window, defaults filled in. */
export function videoCheckTiming(config: OnvifCameraConfig): { intervalMs: number; windowMs: number } {
  const intervalMs = config.videoCheckIntervalMs ?? config.healthIntervalMs;
  return { intervalMs, windowMs: config.videoCheckWindowMs ?? Math.min(5000, Math.floor(intervalMs / 2)) };
}

/** `0.7 s`, `5 s`: a probe window as the reason says it. */
function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** `45 s`, `2 min`, `1 h 30 min`: how long until the next try, as the availability reason says it. */
function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `${min} min`;
  const h = Math.floor(min / 60);
  return `${h} h${min % 60 ? ` ${min % 60} min` : ''}`;
}

export const onvifCamera: AdapterDefinition<OnvifCameraConfig> = {
  type: 'onvif-camera',
  configSchema,
  capabilities: [
    'video',
    'snapshot',
    'ptz',
    'event.motion',
    'event.tamper',
    'event.line_crossing',
    'event.intrusion',
  ],
  check: (config) => {
    const problems: string[] = [];
    // One source of the password: the hub's sealed value or a file on the gateway, never both.
    if ((config.password === undefined) === (config.passwordFile === undefined))
      problems.push(
        '/password: give the camera password either as passwordFile or (from the hub) as password',
      );
    const { intervalMs, windowMs } = videoCheckTiming(config);
    if (intervalMs < config.healthIntervalMs)
      problems.push(
        `/videoCheckIntervalMs: ${intervalMs} is shorter than healthIntervalMs (${config.healthIntervalMs}): the picture is never probed more often than ONVIF is checked`,
      );
    if (intervalMs <= windowMs)
      problems.push(
        `/videoCheckWindowMs: ${windowMs} must be shorter than the probe interval (${intervalMs})`,
      );
    return problems;
  },
  create: (config, ctx) => new OnvifCamera(config, ctx),
};
