/**
 * A simulated ONVIF camera for the demo and the tests: an ONVIF SOAP endpoint (onvif-server.ts),
 * a live H.264 picture (test-pattern.ts → encoder.ts → RTP) served by its own RTSP server
 * (rtsp-server.ts) and optionally forwarded to an external one (GStreamer's in the tests), a PTZ
 * head that moves the picture, PullPoint events, and a WS-Discovery responder.
 *
 * Everything it says it writes itself: no file outside the repository is needed to run it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { ffmpegPath } from '../../../video/ffmpeg.ts';
import { parseProbe, probeMatchesMessage } from '../discovery.ts';
import { type Credentials, DigestAuth } from './digest-auth.ts';
import { Encoder } from './encoder.ts';
import { type Misbehaviour, OnvifServer, type SimProfile } from './onvif-server.ts';
import { PtzMotor } from './ptz-motor.ts';
import { PullPoints } from './pull-points.ts';
import { RtpFeed } from './rtp-feed.ts';
import { RtspServer } from './rtsp-server.ts';
import { TestPattern } from './test-pattern.ts';

export type CameraEventKind = 'motion' | 'tamper' | 'line' | 'intrusion';

interface StreamSize {
  width: number;
  height: number;
  kbps: number;
  /** H.265 like many cameras sold today (default H.264). */
  codec?: 'h264' | 'h265';
}

export interface CameraSimulatorOptions {
  credentials: Credentials;
  model?: string;
  serial?: string;
  auth?: 'digest' | 'wsse' | 'either';
  /** The camera's clock minus the true time (a camera that was never set). */
  clockOffsetMs?: number;
  ptz?: boolean;
  fps?: number;
  main?: StreamSize;
  sub?: StreamSize;
  host?: string;
  onvifPort?: number;
  rtspPort?: number;
  /** Also send each stream's RTP to these UDP ports (an external RTSP server re-serves it). */
  forwardRtp?: { main: number; sub: number };
  /** Report these stream URIs instead of the built-in server's (the external server's). */
  streamUrls?: { main: string; sub: string };
  /** Answer WS-Discovery probes on this UDP port (0: do not). */
  discoveryPort?: number;
  /** Raise a motion event about this often (ms) on average; 0: only when triggered. */
  motionEveryMs?: number;
  /** Where the head points at start (degrees), so cameras of a village do not all show the same. */
  initialPan?: number;
  /** Where the camera says its media is while `misbehave` is `lying` (a foreign host). */
  foreignMedia?: { rtsp: string; http: string };
  /** How the snapshot URI authenticates (default digest). */
  snapshotAuth?: 'digest' | 'basic';
  /** What GetDeviceInformation says (a camera that says manufacturer "NONE", or nothing). */
  identity?: { manufacturer?: string; firmware?: string };
  /** Offer Media2 (Profile T) beside Media1 (default true). */
  media2?: boolean;
}

export class CameraSimulator {
  readonly ptz: PtzMotor | undefined;
  readonly events: PullPoints;
  readonly endpoint = `urn:uuid:${randomUUID()}`;
  private readonly pattern: TestPattern;
  private readonly feeds: { main: RtpFeed; sub: RtpFeed };
  private encoder: Encoder | undefined;
  private rtsp: RtspServer | undefined;
  private onvif: OnvifServer | undefined;
  private discovery: Socket | undefined;
  private forwarder: Socket | undefined;
  private frameTimer: NodeJS.Timeout | undefined;
  private motionTimer: NodeJS.Timeout | undefined;
  private frameNo = 0;
  private snapshotBusy: Promise<Buffer> | undefined;
  private readonly sizes: { main: StreamSize; sub: StreamSize };
  private readonly fixedPan: number;
  readonly fps: number;
  /** How the ONVIF endpoint misbehaves (tests switch it at run time). */
  misbehave: Misbehaviour = 'none';

  constructor(private readonly options: CameraSimulatorOptions) {
    this.fps = options.fps ?? 15;
    this.events = new PullPoints(() => Date.now() + (options.clockOffsetMs ?? 0));
    this.sizes = {
      main: options.main ?? { width: 640, height: 360, kbps: 600 },
      sub: options.sub ?? { width: 320, height: 180, kbps: 200 },
    };
    this.feeds = {
      main: new RtpFeed(this.fps, this.sizes.main.codec),
      sub: new RtpFeed(this.fps, this.sizes.sub.codec),
    };
    this.pattern = new TestPattern(this.sizes.main.width, this.sizes.main.height);
    this.ptz = options.ptz === false ? undefined : new PtzMotor();
    this.fixedPan = options.initialPan ?? 0;
    if (this.ptz) this.ptz.position.pan = this.fixedPan;
  }

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  get xaddr(): string {
    return this.onvif?.xaddr ?? '';
  }

  get onvifServer(): OnvifServer | undefined {
    return this.onvif;
  }

  get rtspServer(): RtspServer | undefined {
    return this.rtsp;
  }

  get encoderPid(): number | undefined {
    return this.encoder?.pid;
  }

  streamUrl(stream: 'main' | 'sub'): string {
    return this.options.streamUrls?.[stream] ?? this.rtsp?.url(`/${stream}`) ?? '';
  }

  async start(): Promise<void> {
    const credentials = this.options.credentials;
    const digest = new DigestAuth(credentials);
    const main = await this.feeds.main.start();
    const sub = await this.feeds.sub.start();
    this.rtsp = new RtspServer({
      host: this.host,
      ...(this.options.rtspPort ? { port: this.options.rtspPort } : {}),
      auth: new DigestAuth(credentials),
    });
    this.rtsp.mount('/main', this.feeds.main);
    this.rtsp.mount('/sub', this.feeds.sub);
    await this.rtsp.start();
    if (this.options.forwardRtp) this.startForwarding(this.options.forwardRtp);
    this.encoder = new Encoder({
      width: this.sizes.main.width,
      height: this.sizes.main.height,
      fps: this.fps,
      main: { ...this.sizes.main, ...main },
      sub: { ...this.sizes.sub, ...sub },
    });
    this.encoder.start();
    this.frameTimer = setInterval(() => this.renderFrame(), 1000 / this.fps);
    const profile = (token: string, name: string, size: StreamSize, stream: 'main' | 'sub'): SimProfile => ({
      token,
      name,
      ...size,
      fps: this.fps,
      streamUrl: this.streamUrl(stream),
      codec: size.codec ?? 'h264',
    });
    const self = this;
    this.onvif = new OnvifServer(
      {
        identity: {
          manufacturer: this.options.identity?.manufacturer ?? 'Qianliyan',
          model: this.options.model ?? (this.ptz ? 'QLY-SIM-PTZ' : 'QLY-SIM-BULLET'),
          firmware: this.options.identity?.firmware ?? '1.0.0',
          serial: this.options.serial ?? this.endpoint.slice(-12),
          hardwareId: 'QLY-SIM',
        },
        credentials,
        digest,
        auth: this.options.auth ?? 'either',
        clockOffsetMs: this.options.clockOffsetMs ?? 0,
        profiles: [
          profile('Profile_1', 'mainStream', this.sizes.main, 'main'),
          profile('Profile_2', 'subStream', this.sizes.sub, 'sub'),
        ],
        ptz: this.ptz,
        events: this.events,
        snapshot: () => this.snapshot(),
        get misbehave() {
          return self.misbehave;
        },
        ...(this.options.foreignMedia ? { foreignMedia: this.options.foreignMedia } : {}),
        ...(this.options.snapshotAuth ? { snapshotAuth: this.options.snapshotAuth } : {}),
        media2: this.options.media2 ?? true,
      },
      this.host,
    );
    await this.onvif.start(this.options.onvifPort ?? 0);
    if (this.options.discoveryPort !== undefined && this.options.discoveryPort >= 0)
      await this.startDiscovery(this.options.discoveryPort);
    if (this.options.motionEveryMs) this.scheduleMotion(this.options.motionEveryMs);
  }

  /** The UDP port the WS-Discovery responder listens on (when started). */
  get discoveryPort(): number | undefined {
    return this.discovery?.address().port;
  }

  async stop(): Promise<void> {
    clearInterval(this.frameTimer);
    clearTimeout(this.motionTimer);
    this.frameTimer = this.motionTimer = undefined;
    await this.encoder?.stop();
    await this.rtsp?.stop();
    await this.onvif?.stop();
    this.feeds.main.stop();
    this.feeds.sub.stop();
    this.discovery?.close();
    this.forwarder?.close();
    this.discovery = this.forwarder = undefined;
  }

  /**
   * Stops (or resumes) the picture without closing anything: the RTSP sessions stay open and carry
   * nothing, as a camera whose sensor or encoder hangs.
   */
  freezeVideo(frozen: boolean): void {
    clearInterval(this.frameTimer);
    this.frameTimer = frozen ? undefined : setInterval(() => this.renderFrame(), 1000 / this.fps);
  }

  /** Raises (or clears) an event the way a camera's analytics would. */
  trigger(kind: CameraEventKind, active = true): void {
    const utc = new Date(Date.now() + (this.options.clockOffsetMs ?? 0))
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const bool = String(active);
    switch (kind) {
      case 'motion':
        this.events.publish(
          {
            utc,
            topic: 'tns1:VideoSource/MotionAlarm',
            operation: 'Changed',
            source: [{ name: 'Source', value: 'VideoSource_1' }],
            data: [{ name: 'State', value: bool }],
          },
          true,
        );
        return;
      case 'tamper':
        this.events.publish(
          {
            utc,
            topic: 'tns1:VideoSource/GlobalSceneChange/ImagingService',
            operation: 'Changed',
            source: [{ name: 'Source', value: 'VideoSource_1' }],
            data: [{ name: 'State', value: bool }],
          },
          true,
        );
        return;
      case 'line':
        this.events.publish(
          {
            utc,
            topic: 'tns1:RuleEngine/LineDetector/Crossed',
            source: [
              { name: 'VideoSourceConfigurationToken', value: 'VideoSourceConfig_1' },
              { name: 'Rule', value: 'Gate' },
            ],
            data: [{ name: 'ObjectId', value: String(Math.floor(Math.random() * 1000)) }],
          },
          false,
        );
        return;
      case 'intrusion':
        this.events.publish(
          {
            utc,
            topic: 'tns1:RuleEngine/FieldDetector/ObjectsInside',
            operation: 'Changed',
            source: [
              { name: 'VideoSourceConfigurationToken', value: 'VideoSourceConfig_1' },
              { name: 'Rule', value: 'Field' },
            ],
            data: [{ name: 'IsInside', value: bool }],
          },
          true,
        );
        return;
    }
  }

  /** A JPEG of the current picture (one ffmpeg at a time; concurrent callers share it). */
  snapshot(): Promise<Buffer> {
    this.snapshotBusy ??= this.encodeJpeg(Buffer.from(this.pattern.frame)).finally(() => {
      this.snapshotBusy = undefined;
    });
    return this.snapshotBusy;
  }

  private encodeJpeg(frame: Buffer): Promise<Buffer> {
    const { width, height } = this.sizes.main;
    return new Promise((resolve, reject) => {
      const child = spawn(
        ffmpegPath(),
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-f',
          'rawvideo',
          '-pix_fmt',
          'yuv420p',
          '-video_size',
          `${width}x${height}`,
          '-i',
          'pipe:0',
          '-frames:v',
          '1',
          '-f',
          'image2pipe',
          '-c:v',
          'mjpeg',
          '-q:v',
          '5',
          'pipe:1',
        ],
        { stdio: ['pipe', 'pipe', 'ignore'] },
      );
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stdin.on('error', () => {
        /* exit reports it */
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`ffmpeg exited ${code}`)),
      );
      child.stdin.end(frame);
    });
  }

  private renderFrame(): void {
    const position = this.ptz?.tick() ?? { pan: this.fixedPan, tilt: -5, zoom: 1 };
    const frame = this.pattern.render(position, Date.now(), this.frameNo++);
    this.encoder?.write(frame);
  }

  private startForwarding(ports: { main: number; sub: number }): void {
    const socket = createSocket('udp4');
    socket.on('error', () => {
      /* the external server is not listening (yet) */
    });
    this.forwarder = socket;
    // RTP only: the external server makes its own RTCP.
    for (const stream of ['main', 'sub'] as const)
      this.feeds[stream].subscribe((channel, packet) => {
        if (channel === 0) socket.send(packet, ports[stream], '127.0.0.1');
      });
  }

  private async startDiscovery(port: number): Promise<void> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    socket.on('error', () => {
      /* keep answering what can be answered */
    });
    socket.on('message', (msg, rinfo) => {
      if (msg.length > 16 * 1024) return;
      const relatesTo = parseProbe(msg.toString('utf8'));
      if (!relatesTo || !this.onvif) return;
      const reply = probeMatchesMessage(relatesTo, {
        endpoint: this.endpoint,
        scopes: this.onvif.scopes(),
        xaddrs: [this.xaddr],
      });
      socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => socket.bind(port, resolve));
    this.discovery = socket;
  }

  private scheduleMotion(everyMs: number): void {
    const delay = everyMs * (0.5 + Math.random());
    this.motionTimer = setTimeout(() => {
      this.trigger('motion', true);
      this.motionTimer = setTimeout(() => {
        this.trigger('motion', false);
        this.scheduleMotion(everyMs);
      }, 5000);
    }, delay);
    this.motionTimer.unref();
  }
}
