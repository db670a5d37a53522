/**
 * The video relay service: relays by camera stream, viewers, gateway push sessions and snapshot
 * uploads, with every limit in one place.
 *
 * Viewing: `issueToken` (after the REST route checked the user may see the camera) → the browser
 * opens the video socket with it → `attachViewer` verifies the token and the login session again
 * and joins the camera stream's relay, creating it (and its source) for the first viewer.
 * Pushing: a gateway's connection for a session this hub named is accepted only from the gateway
 * that owns the camera, with its own credential; bytes per second and message sizes are bounded.
 * Snapshots: the hub names an upload, commands `camera.snapshot`, and waits for the gateway's POST
 * (or, for a camera it can reach, grabs a frame itself).
 *
 * Why not node-rtsp-stream: it opens its own WebSocket port on every interface with no
 * authentication and leaves ffmpeg running when viewers leave. Its technique (ffmpeg → MPEG-1 →
 * WebSocket → JSMpeg) is kept for browsers without MSE, served here, behind tokens, supervised.
 */
import { parseDeviceKey, type StreamName, userMaySee } from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import type { VideoHolders } from '../cluster/video-holders.ts';
import type { HubConfig } from '../config.ts';
import { HubError } from '../errors.ts';
import { verifyPassword } from '../security/passwords.ts';
import type { CommandService } from '../services/commands.ts';
import type { HubMetrics } from '../services/metrics.ts';
import type { Registry } from '../services/registry.ts';
import type { AuthUser, Sessions } from '../services/sessions.ts';
import type { StateDb } from '../stores/state-db.ts';
import { ClusterSource } from './cluster-source.ts';
import { FfmpegProcess, liveFfmpegCount, resolveFfmpeg } from './ffmpeg-process.ts';
import { newWindow, PushBudget, type RateWindow } from './push-budget.ts';
import type { VideoRefusal } from './refusals.ts';
import { Relay, type Viewer } from './relay.ts';
import { newSessionId, PullSource, PushSource } from './sources.ts';
import { StreamTokens } from './stream-tokens.ts';

type VideoConfig = HubConfig['video'];

/** A hub relay token is used at once, by a hub, on the cluster's own network. */
const PEER_TOKEN_TTL_S = 30;

export class VideoRefused extends Error {
  constructor(
    readonly reason: VideoRefusal,
    message: string,
  ) {
    super(message);
  }
}

interface PushSession {
  relay: Relay;
  gateway: string;
  socket: WebSocket | undefined;
  window: RateWindow;
  /** When the gateway's recent connections for this session were opened (reconnect storms). */
  connects: number[];
}

interface PendingSnapshot {
  gateway: string;
  resolve: (jpeg: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class VideoService {
  private readonly relays = new Map<string, Relay>();
  private readonly pushes = new Map<string, PushSession>();
  private readonly snapshots = new Map<string, PendingSnapshot>();
  private readonly viewersByUser = new Map<string, number>();
  /** Snapshots in progress (grabs and uploads), hub-wide and per user. */
  private snapshotsInFlight = 0;
  private readonly snapshotsByUser = new Map<string, number>();
  private viewers = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  readonly tokens: StreamTokens;
  /** Several hubs: what one hub shows another to relay a stream it holds (cluster-source.ts). */
  readonly peerTokens: StreamTokens;
  readonly ffmpeg: string;
  private readonly budget: PushBudget;
  private gauges: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: VideoConfig,
    jwtSecret: string,
    private readonly registry: Registry,
    private readonly commands: CommandService,
    private readonly sessions: Sessions,
    private readonly db: StateDb,
    private readonly metrics: HubMetrics,
    private readonly log: FastifyBaseLogger,
    /** Several hubs: each camera stream is streamed by one of them (cluster/video-holders.ts). */
    private readonly holders?: VideoHolders,
    /** The CA of the other hubs' HTTPS certificates, to relay from them. */
    private readonly peerCa?: string,
  ) {
    this.tokens = new StreamTokens(jwtSecret, config.tokenTtlS);
    this.peerTokens = new StreamTokens(jwtSecret, PEER_TOKEN_TTL_S, 'hub relay token');
    this.ffmpeg = resolveFfmpeg(config.ffmpegPath);
    this.budget = new PushBudget(config);
  }

  start(): void {
    this.gauges = setInterval(() => this.updateGauges(), 1000);
    this.gauges.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.gauges);
    for (const p of this.snapshots.values()) {
      clearTimeout(p.timer);
      p.reject(new HubError('HUB_ERR_BUSY', 'the hub is shutting down'));
    }
    this.snapshots.clear();
    await Promise.allSettled([...this.relays.values()].map((r) => r.stop()));
    this.relays.clear();
  }

  refuse(reason: VideoRefusal, message: string): VideoRefused {
    this.metrics.videoRefused.inc({ reason });
    return new VideoRefused(reason, message);
  }

  /** The stream a viewer gets: the one asked for, else the device's only one. */
  resolveStream(
    user: AuthUser,
    key: string,
    wanted: StreamName,
  ): { stream: StreamName; gateway: string; device: string } {
    const device = this.registry.getDevice(key);
    if (!device) throw new HubError('HUB_ERR_NOT_FOUND', `no device ${key}`);
    if (!userMaySee(user, device.site)) {
      this.metrics.videoRefused.inc({ reason: 'out_of_scope' });
      throw new HubError('HUB_ERR_FORBIDDEN', `${key} is outside your sites`);
    }
    const streams = device.streams ?? [];
    const pulled = this.config.pull[key];
    const names = new Set([
      ...streams.map((s) => s.name),
      ...(pulled?.main ? ['main'] : []),
      ...(pulled?.sub ? ['sub'] : []),
    ]);
    if (!device.capabilities.includes('video') || names.size === 0) {
      this.metrics.videoRefused.inc({ reason: 'no_such_stream' });
      throw new HubError('HUB_ERR_NOT_FOUND', `${key} has no video`);
    }
    const stream = names.has(wanted) ? wanted : ([...names][0] as StreamName);
    return { stream, gateway: device.gateway, device: device.device };
  }

  issueToken(
    user: AuthUser,
    key: string,
    wanted: StreamName,
  ): { token: string; expiresAt: number; stream: StreamName } {
    const { stream } = this.resolveStream(user, key, wanted);
    return { ...this.tokens.issue({ sub: user.username, sid: user.sid, dev: key, st: stream }), stream };
  }

  /** Checks a viewer's token and session; the user behind it, and the stream it names. */
  authorizeViewer(token: string | undefined): { user: AuthUser; device: string; stream: StreamName } {
    if (!token) throw this.refuse('no_token', 'authentication required');
    const check = this.tokens.verify(token);
    if (!check.ok)
      throw this.refuse(
        check.reason,
        check.reason === 'expired_token' ? 'the stream token has expired' : 'invalid stream token',
      );
    const { claims } = check;
    // Single use: a second socket with the same token is refused (auth hardening, stream-tokens.ts).
    if (!this.tokens.consume(claims))
      throw this.refuse('token_reused', 'this stream token was used already: ask for a new one');
    const user = this.sessions.resolve({ sub: claims.sub, sid: claims.sid });
    if (!user) throw this.refuse('session_ended', 'the session behind this stream token has ended');
    try {
      const { stream } = this.resolveStream(user, claims.dev, claims.st);
      return { user, device: claims.dev, stream };
    } catch (err) {
      throw this.refuse('no_such_stream', (err as Error).message);
    }
  }

  /** Joins a viewer to its camera stream; returns the function that detaches it. */
  attachViewer(user: AuthUser, device: string, stream: StreamName, viewer: Viewer): () => void {
    const perUser = this.viewersByUser.get(user.username) ?? 0;
    if (perUser >= this.config.maxViewersPerUser || this.viewers >= this.config.maxViewers)
      throw this.refuse('too_many_viewers', 'too many open video streams');
    const key = `${device}/${stream}`;
    let relay = this.relays.get(key);
    if (!relay) {
      if (this.relays.size >= this.config.maxRelays)
        throw this.refuse('too_many_relays', 'the hub relays as many cameras as it may');
      relay = this.createRelay(user, device, stream);
      this.relays.set(key, relay);
      relay.start();
    }
    this.viewersByUser.set(user.username, perUser + 1);
    this.viewers += 1;
    relay.addViewer(viewer);
    const joined = relay;
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      this.viewers -= 1;
      this.viewersByUser.set(user.username, (this.viewersByUser.get(user.username) ?? 1) - 1);
      joined.removeViewer(viewer);
    };
  }

  /**
   * Another hub relaying a stream this hub holds (checked before the upgrade, `attachPeer` after):
   * joins it as a viewer that plays everything (the
   * asking hub transcodes for its own viewers). Only a stream this hub streams now: a stale holder
   * row sends the asker elsewhere (it retries, and takes the lease once it is free).
   */
  authorizePeer(token: string | undefined): { device: string; stream: StreamName } {
    const check = token ? this.peerTokens.verify(token) : undefined;
    if (!check?.ok || !this.peerTokens.consume(check.claims))
      throw this.refuse('peer_bad_token', 'invalid hub relay token');
    const { dev, st } = check.claims;
    if (!this.relays.has(`${dev}/${st}`) || !this.holders?.holds(dev, st))
      throw this.refuse('peer_not_holder', `this hub does not stream ${dev}/${st}`);
    return { device: dev, stream: st };
  }

  attachPeer(device: string, stream: StreamName, viewer: Viewer): () => void {
    const relay = this.relays.get(`${device}/${stream}`);
    if (!relay || !this.holders?.holds(device, stream))
      throw this.refuse('peer_not_holder', `this hub does not stream ${device}/${stream}`);
    this.viewers += 1;
    relay.addViewer(viewer);
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      this.viewers -= 1;
      relay.removeViewer(viewer);
    };
  }

  private createRelay(starter: AuthUser, key: string, stream: StreamName): Relay {
    const parsed = parseDeviceKey(key);
    if (!parsed) throw this.refuse('no_such_stream', `bad device key ${key}`);
    const local = this.localSource(starter, key, stream, parsed.gateway, parsed.device);
    const source = this.holders
      ? new ClusterSource(
          key,
          stream,
          this.holders,
          local,
          this.peerTokens,
          this.config.startTimeoutMs,
          this.peerCa,
        )
      : local;
    return new Relay(
      key,
      stream,
      source,
      {
        ffmpeg: this.ffmpeg,
        stallMs: this.config.stallMs,
        watchdogMs: this.config.watchdogMs,
        idleStopMs: this.config.idleStopMs,
        jsmpegKbps: this.config.jsmpegKbps,
        maxViewerBufferBytes: this.config.maxViewerBufferBytes,
        badMediaBackoffMs: this.config.badMediaBackoffMs,
        transcodes: this.transcodeBudget,
      },
      this.log,
      (relay) => {
        if (relay.viewerCount > 0) return;
        this.relays.delete(relay.key);
        void relay.stop();
      },
    );
  }

  /** The stream from the camera: the hub's own pull, else the gateway's push (to this hub). */
  private localSource(
    starter: AuthUser,
    key: string,
    stream: StreamName,
    gateway: string,
    device: string,
  ): PullSource | PushSource {
    const parsed = { gateway, device };
    const pullUrl = this.config.pull[key]?.[stream] ?? this.config.pull[key]?.main;
    return pullUrl
      ? new PullSource(pullUrl, this.ffmpeg, this.config.startTimeoutMs)
      : new PushSource(
          {
            open: (session, relay) => {
              this.pushes.set(session, {
                relay,
                gateway: parsed.gateway,
                socket: undefined,
                window: newWindow(),
                connects: [],
              });
            },
            close: (session) => {
              const push = this.pushes.get(session);
              this.pushes.delete(session);
              push?.socket?.close(4404, 'session ended');
            },
            command: async (action, params) => {
              const row = this.commands.submit({
                user: starter,
                gateway: parsed.gateway,
                device: parsed.device,
                action,
                // Several hubs: the gateway pushes to this hub, wherever its own hubUrl leads.
                params:
                  action === 'stream.start' && this.holders
                    ? { ...params, hub: this.holders.advertiseUrl }
                    : params,
                internal: true,
                ...(action === 'stream.start' ? { timeoutMs: this.config.startTimeoutMs } : {}),
              });
              if (action === 'stream.stop') return;
              const view = await this.commands.wait(row.id, this.config.startTimeoutMs + 2000);
              if (view.status !== 'ok')
                throw new Error(
                  view.error?.message ?? `the gateway did not start the stream (${view.status})`,
                );
            },
          },
          stream,
        );
  }

  /** The gateway credential in an HTTP Basic header, checked like its MQTT login. */
  async authenticateGateway(header: string | undefined): Promise<string | undefined> {
    const m = /^Basic ([A-Za-z0-9+/=]{1,512})$/.exec(header ?? '');
    if (!m) return undefined;
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return undefined;
    const id = decoded.slice(0, colon);
    const gateway = this.db.getGateway(id);
    if (!gateway?.passwordHash) return undefined;
    return (await verifyPassword(decoded.slice(colon + 1), gateway.passwordHash)) ? id : undefined;
  }

  /** Whether `session` is open for `gateway`: checked before the WebSocket upgrade completes. */
  checkPush(session: string, gateway: string): VideoRefusal | undefined {
    const push = this.pushes.get(session);
    if (!push) return 'push_no_session';
    if (push.gateway !== gateway) return 'push_wrong_gateway';
    return undefined;
  }

  /** A gateway's media connection for a session: its bytes feed the session's relay. */
  acceptPush(session: string, gateway: string, socket: WebSocket): void {
    const refusal = this.checkPush(session, gateway);
    const push = this.pushes.get(session);
    if (refusal || !push) {
      this.metrics.videoRefused.inc({ reason: refusal ?? 'push_no_session' });
      socket.close(4404, 'no such session');
      return;
    }
    // A flaky uplink reconnects a few times; a gateway that dials again and again only makes the
    // hub restart its reader each time.
    const now = Date.now();
    push.connects = push.connects.filter((t) => now - t < 10_000);
    if (push.connects.length >= 5) {
      this.metrics.videoRefused.inc({ reason: 'push_rate' });
      socket.close(1008, 'too many connections');
      return;
    }
    push.connects.push(now);
    // A reconnect after a dropped uplink replaces the old connection.
    push.socket?.close(4409, 'replaced by a new connection');
    push.socket = socket;
    const { relay } = push;
    // A new connection starts its stream over (ftyp, moov): the relay reads it afresh.
    relay.sourceEnded('a new connection from the gateway');
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || push.socket !== socket) return;
      const over = this.budget.admit(gateway, push.window, data.length);
      if (over) return this.cutPush(push, socket, over);
      this.bytesIn += data.length;
      const started = process.hrtime.bigint();
      relay.feed(data);
      const pauseMs = this.budget.chargeCpu(gateway, Number(process.hrtime.bigint() - started));
      if (pauseMs > 0) this.pauseGateway(gateway, pauseMs);
      if (this.bufferedBy(gateway) > this.config.maxGatewayBufferBytes)
        this.cutPush(push, socket, 'push_gateway_memory');
    });
    socket.on('close', () => {
      if (push.socket !== socket) return;
      push.socket = undefined;
      relay.sourceEnded('the gateway’s connection closed');
    });
    socket.on('error', () => socket.terminate());
  }

  /** Closes one push connection that crossed a limit; its relay restarts it with backoff. */
  private cutPush(push: PushSession, socket: WebSocket, reason: VideoRefusal): void {
    this.metrics.videoRefused.inc({ reason });
    this.log.warn(
      { gateway: push.gateway, relay: push.relay.key, reason },
      'gateway push over its limit; connection closed',
    );
    if (push.socket === socket) push.socket = undefined;
    socket.close(1008, 'limit');
    push.relay.sourceEnded(`push refused: ${reason}`);
  }

  /**
   * Over its CPU budget: stop reading all of a gateway's push sockets until its window ends. TCP
   * backpressure slows the gateway; the streams resume, nothing is cut.
   */
  private pauseGateway(gateway: string, ms: number): void {
    let paused = 0;
    for (const push of this.pushes.values()) {
      const socket = push.socket;
      if (push.gateway !== gateway || !socket || socket.isPaused) continue;
      socket.pause();
      paused += 1;
      setTimeout(() => {
        if (socket.readyState === socket.OPEN) socket.resume();
      }, ms).unref();
    }
    if (paused > 0) {
      this.metrics.videoRefused.inc({ reason: 'push_cpu_budget' });
      this.log.warn({ gateway, pauseMs: ms }, 'gateway media over its CPU budget; paused');
    }
  }

  /** Media bytes the hub holds for a gateway's streams (unfinished boxes, keyframe caches). */
  private bufferedBy(gateway: string): number {
    let bytes = 0;
    for (const push of this.pushes.values()) if (push.gateway === gateway) bytes += push.relay.bufferedBytes;
    return bytes;
  }

  /**
   * A snapshot of a camera: the hub's own frame grab for a pulled camera, else the gateway's upload.
   * Bounded hub-wide (`video.maxSnapshots`) and per user (`video.maxSnapshotsPerUser`) under it: the
   * hostile pass had one operator hold all 64 hub-wide slots, and the duty officer got 503.
   */
  async snapshot(user: AuthUser, key: string): Promise<Buffer> {
    const { gateway, device } = this.resolveStream(user, key, 'main');
    const mine = this.snapshotsByUser.get(user.username) ?? 0;
    if (mine >= this.config.maxSnapshotsPerUser) {
      this.refuse('snapshot_user_limit', 'too many snapshots of this user in progress');
      throw new HubError('HUB_ERR_RATE_LIMITED', 'too many of your snapshots in progress; wait for them');
    }
    if (this.snapshotsInFlight >= this.config.maxSnapshots) {
      this.refuse('snapshot_busy', 'too many snapshots in progress');
      throw new HubError('HUB_ERR_BUSY', 'too many snapshots in progress');
    }
    this.snapshotsInFlight += 1;
    this.snapshotsByUser.set(user.username, mine + 1);
    try {
      const pullUrl = this.config.pull[key]?.main ?? this.config.pull[key]?.sub;
      return await (pullUrl ? this.grabFrame(pullUrl) : this.uploadedSnapshot(user, gateway, device));
    } finally {
      this.snapshotsInFlight -= 1;
      const left = (this.snapshotsByUser.get(user.username) ?? 1) - 1;
      if (left > 0) this.snapshotsByUser.set(user.username, left);
      else this.snapshotsByUser.delete(user.username);
    }
  }

  /** Names an upload, commands `camera.snapshot`, and waits for the gateway's POST. */
  private uploadedSnapshot(user: AuthUser, gateway: string, device: string): Promise<Buffer> {
    const upload = newSessionId();
    const result = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.snapshots.delete(upload);
        reject(new HubError('HUB_ERR_TIMEOUT', 'no snapshot from the gateway in time'));
      }, this.config.startTimeoutMs + 5000);
      this.snapshots.set(upload, { gateway, resolve, reject, timer });
    });
    try {
      const row = this.commands.submit({
        user,
        gateway,
        device,
        action: 'camera.snapshot',
        params: { upload },
        internal: true,
      });
      void this.commands.wait(row.id, this.config.startTimeoutMs + 2000).then((view) => {
        const pending = this.snapshots.get(upload);
        if (view.status !== 'ok' && pending) {
          clearTimeout(pending.timer);
          this.snapshots.delete(upload);
          pending.reject(
            new HubError('HUB_ERR_DEVICE_UNAVAILABLE', view.error?.message ?? `snapshot ${view.status}`),
          );
        }
      });
    } catch (err) {
      const pending = this.snapshots.get(upload);
      if (pending) clearTimeout(pending.timer);
      this.snapshots.delete(upload);
      return Promise.reject(err);
    }
    return result;
  }

  /** A gateway's JPEG for an upload this hub named. */
  acceptSnapshot(upload: string, gateway: string, jpeg: Buffer): VideoRefusal | undefined {
    const pending = this.snapshots.get(upload);
    if (!pending) return 'snapshot_no_upload';
    if (pending.gateway !== gateway) return 'snapshot_no_upload';
    if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return 'snapshot_not_jpeg';
    clearTimeout(pending.timer);
    this.snapshots.delete(upload);
    pending.resolve(jpeg);
    return undefined;
  }

  private async grabFrame(url: string): Promise<Buffer> {
    const proc = new FfmpegProcess(
      this.ffmpeg,
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-nostdin',
        '-rtsp_transport',
        'tcp',
        '-i',
        url,
        '-frames:v',
        '1',
        '-f',
        'image2pipe',
        '-c:v',
        'mjpeg',
        'pipe:1',
      ],
      'ignore',
    );
    const chunks: Buffer[] = [];
    proc.child.stdout?.on('data', (c: Buffer) => chunks.push(c));
    const timer = setTimeout(() => void proc.stop(), this.config.startTimeoutMs);
    const { code } = await proc.exited;
    clearTimeout(timer);
    const jpeg = Buffer.concat(chunks);
    if (code !== 0 || jpeg.length === 0) {
      // ffmpeg's words (addresses, versions) stay in the log; the client gets a stable message.
      this.log.warn({ code, ffmpeg: proc.lastError }, 'snapshot: no frame from the camera');
      throw new HubError('HUB_ERR_DEVICE_UNAVAILABLE', 'no frame from the camera');
    }
    return jpeg;
  }

  /** What ops and tests look at: every relay with its state, viewers and counters. */
  list(): Array<Record<string, unknown>> {
    return [...this.relays.values()].map((r) => ({
      device: r.device,
      stream: r.stream,
      source: r.sourceKind,
      state: r.state,
      ...(r.reason ? { reason: r.reason } : {}),
      viewers: r.viewerCount,
      startedAt: r.startedAt,
      ...r.stats,
    }));
  }

  get relayCount(): number {
    return this.relays.size;
  }

  /** Bytes sent to viewers; added to the metric once a second (a labelled counter per fragment costs more than the send). */
  countBytesOut(bytes: number): void {
    this.bytesOut += bytes;
  }

  /** H.264 transcoders by relay: at most `video.maxTranscodes` in the hub. */
  private readonly transcoding = new Set<string>();
  private readonly transcodeBudget = {
    acquire: (relay: string): boolean => {
      if (this.transcoding.size >= this.config.maxTranscodes) {
        this.metrics.videoRefused.inc({ reason: 'transcode_limit' satisfies VideoRefusal });
        this.log.warn({ relay, running: this.transcoding.size }, 'no room for another H.264 transcoder');
        return false;
      }
      this.transcoding.add(relay);
      this.metrics.videoTranscodesStarted.inc();
      this.metrics.videoTranscodes.set(this.transcoding.size);
      return true;
    },
    release: (relay: string): void => {
      this.transcoding.delete(relay);
      this.metrics.videoTranscodes.set(this.transcoding.size);
    },
  };

  private updateGauges(): void {
    if (this.bytesIn) this.metrics.videoBytes.inc({ direction: 'in' }, this.bytesIn);
    if (this.bytesOut) this.metrics.videoBytes.inc({ direction: 'out' }, this.bytesOut);
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.metrics.videoRelays.set(this.relays.size);
    this.metrics.videoViewers.set(this.viewers);
    this.metrics.videoFfmpeg.set(liveFfmpegCount());
  }
}
