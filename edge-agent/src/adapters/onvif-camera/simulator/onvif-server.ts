/**
 * The simulated camera's ONVIF endpoint: SOAP 1.2 over HTTP for the device, media (ver10), media2
 * (ver20, Profile T), PTZ (ver20) and events services, written by this project from the ONVIF WSDLs
 * (Profile S/T subset a VMS uses): identity, clock, services and capabilities, profiles, video
 * sources, stream and snapshot URIs, continuous move / stop / status / presets, PTZ nodes and
 * configuration options with their position spaces, and PullPoint events.
 *
 * Authentication like a camera: GetSystemDateAndTime, GetServices and GetCapabilities are open
 * (ONVIF Core §5.9.4.3 "pre-auth"), everything else needs a valid WS-UsernameToken (with Created
 * within 5 minutes of the camera's own clock, which may be skewed: `clockOffsetMs`) or HTTP Digest,
 * as `auth` says. Failure modes for tests: `misbehave` makes it answer garbage, an HTML 401 page,
 * or nothing at all; `lying` answers everything properly but names a foreign host (`foreignMedia`)
 * as the address of its streams and snapshots, as a camera in an attacker's hands would, to harvest
 * the credentials a gateway adds there. `snapshotAuth: 'basic'` makes the snapshot URI ask for
 * HTTP Basic over plain HTTP, as cheap cameras do.
 *
 * Cameras as they are in the field (more `misbehave` modes, each seen on a recorded camera):
 *  - `media1-no-uri`: Media1 refuses GetStreamUri and GetSnapshotUri; Media2 answers both;
 *  - `no-stream`: no stream URI from either media service (the snapshot URI still works);
 *  - `ptz-own-units`: the PTZ position in the head's own units (16.16 fixed-point degrees: tilt 45°
 *    is 2,949,120) under the generic space's URI, with those ranges advertised for it;
 *  - `no-events`: every CreatePullPointSubscription refused;
 *  - `fault-401`: every request, the pre-auth clock included, answered HTTP 401 with a SOAP fault
 *    that names no NotAuthorized subcode (and no Digest challenge);
 *  - `wrong-answer`: every request answered with a GetDeviceInformationResponse.
 * Identity quirks (manufacturer "NONE" or empty) are the simulator's `identity` option.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { durationMs, envelope, escapeXml, fault, parseRequest, type SoapRequest, text } from '../soap.ts';
import type { Credentials, DigestAuth } from './digest-auth.ts';
import type { PtzMotor } from './ptz-motor.ts';
import type { Notification, PullPoints } from './pull-points.ts';

const MAX_BODY = 64 * 1024;
const CLOCK_TOLERANCE_MS = 5 * 60_000;

export interface SimProfile {
  token: string;
  name: string;
  width: number;
  height: number;
  kbps: number;
  fps: number;
  streamUrl: string;
}

export type Misbehaviour =
  | 'none'
  | 'garbage'
  | 'html-401'
  | 'hang'
  | 'lying'
  | 'media1-no-uri'
  | 'no-stream'
  | 'ptz-own-units'
  | 'no-events'
  | 'fault-401'
  | 'wrong-answer';

const GENERIC_PAN_TILT = 'http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace';
const GENERIC_ZOOM = 'http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace';
/** 16.16 fixed point: the `ptz-own-units` head's unit for degrees (and zoom steps). */
const FIXED = 65_536;

export interface OnvifCamera {
  identity: { manufacturer: string; model: string; firmware: string; serial: string; hardwareId: string };
  credentials: Credentials;
  digest: DigestAuth;
  auth: 'digest' | 'wsse' | 'either';
  clockOffsetMs: number;
  profiles: SimProfile[];
  ptz: PtzMotor | undefined;
  events: PullPoints;
  snapshot(): Promise<Buffer>;
  misbehave: Misbehaviour;
  /** Where a lying camera says its media is: `rtsp://host:port` and `http://host:port`. */
  foreignMedia?: { rtsp: string; http: string };
  snapshotAuth?: 'digest' | 'basic';
  /** Offer the Media2 service (Profile T) beside Media1. */
  media2: boolean;
}

type Handler = (req: SoapRequest) => string | Promise<string>;

export class OnvifServer {
  private server: Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();
  port = 0;
  /** Operations served, by name (tests read them). */
  readonly served = new Map<string, number>();
  readonly authFailures = { digest: 0, wsse: 0, clock: 0 };
  /** The authentication scheme of every snapshot request, `none` without a header (tests read it). */
  readonly snapshotAuthSeen: string[] = [];

  constructor(
    private readonly cam: OnvifCamera,
    private readonly host = '127.0.0.1',
  ) {}

  get base(): string {
    return `http://${this.host}:${this.port}`;
  }

  get xaddr(): string {
    return `${this.base}/onvif/device_service`;
  }

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.requestTimeout = 90_000;
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, this.host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    this.cam.events.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  private now(): Date {
    return new Date(Date.now() + this.cam.clockOffsetMs);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const misbehave = this.cam.misbehave;
    if (misbehave === 'hang') return; // never answers; the socket stays open until the client gives up
    if (misbehave === 'garbage') {
      res.writeHead(200, { 'Content-Type': 'application/soap+xml' });
      return void res.end('<?xml version="1.0"?><env:Envelope><env:Body><Get'.repeat(3));
    }
    if (misbehave === 'html-401') {
      res.writeHead(401, { 'Content-Type': 'text/html' });
      return void res.end(
        '<html><head><title>401 Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>',
      );
    }
    if (misbehave === 'fault-401') {
      this.served.set('fault-401', (this.served.get('fault-401') ?? 0) + 1);
      res.writeHead(401, { 'Content-Type': 'application/soap+xml; charset=utf-8' });
      return void res.end(fault('Sender', [], 'The requested operation is not permitted'));
    }
    const url = new URL(req.url ?? '/', this.base);
    if (req.method === 'GET' && url.pathname === '/onvif/snapshot.jpg') return this.serveSnapshot(req, res);
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) return void res.writeHead(413).end();
      chunks.push(chunk as Buffer);
    }
    const request = parseRequest(Buffer.concat(chunks).toString('utf8'));
    const send = (status: number, xml: string, headers: Record<string, string> = {}) => {
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(status, { 'Content-Type': 'application/soap+xml; charset=utf-8', ...headers });
      res.end(xml);
    };
    if (!request) return send(400, fault('Sender', ['ter:WellFormed'], 'the request is not a SOAP envelope'));
    this.served.set(request.action, (this.served.get(request.action) ?? 0) + 1);
    if (!PRE_AUTH.has(request.action) && !this.authorised(req, request)) {
      if (this.cam.auth === 'wsse')
        return send(400, fault('Sender', ['ter:NotAuthorized'], 'Sender not Authorized'));
      return send(401, fault('Sender', ['ter:NotAuthorized'], 'Sender not Authorized'), {
        'WWW-Authenticate': this.cam.digest.challenge(),
      });
    }
    if (misbehave === 'wrong-answer' && request.action !== 'GetDeviceInformation')
      return send(200, envelope(this.handlers.GetDeviceInformation?.(request) as string));
    const pullPoint = /^\/onvif\/pullpoint\/([0-9a-f]{12})$/.exec(url.pathname)?.[1];
    const media2 = url.pathname === '/onvif/media2_service';
    if (media2 && !this.cam.media2) return void res.writeHead(404).end();
    const handler = pullPoint
      ? this.subscriptionHandler(pullPoint)
      : media2
        ? this.media2Handlers[request.action]
        : this.handlers[request.action];
    if (!handler)
      return send(
        400,
        fault('Receiver', ['ter:ActionNotSupported'], `${request.action} is not supported by this camera`),
      );
    try {
      const body = await handler(request);
      send(200, body.startsWith('<?xml') ? body : envelope(body));
    } catch (err) {
      const f = err instanceof SoapFault ? err : new SoapFault(['ter:Action'], (err as Error).message);
      send(f.code === 'Sender' ? 400 : 500, fault(f.code, f.subcodes, f.message));
    }
  }

  private authorised(req: IncomingMessage, request: SoapRequest): boolean {
    const { auth } = this.cam;
    if (auth !== 'wsse' && req.headers.authorization) {
      if (this.cam.digest.verify(req.headers.authorization, 'POST')) return true;
      this.authFailures.digest += 1;
      return false;
    }
    if (auth === 'digest') return false;
    return this.verifyUsernameToken(request.header);
  }

  /** WS-Security UsernameToken, PasswordDigest = Base64(SHA-1(nonce + created + password)). */
  private verifyUsernameToken(header: Record<string, unknown>): boolean {
    const token = (header.Security as Record<string, unknown> | undefined)?.UsernameToken as
      | Record<string, unknown>
      | undefined;
    if (!token) return false;
    const username = text(token.Username);
    const password = text(token.Password);
    const nonce = text(token.Nonce);
    const created = text(token.Created);
    if (username !== this.cam.credentials.username || !password || !nonce || !created) {
      this.authFailures.wsse += 1;
      return false;
    }
    const createdMs = Date.parse(created);
    if (!Number.isFinite(createdMs) || Math.abs(createdMs - this.now().getTime()) > CLOCK_TOLERANCE_MS) {
      this.authFailures.clock += 1;
      return false;
    }
    const digest = createHash('sha1')
      .update(
        Buffer.concat([
          Buffer.from(nonce, 'base64'),
          Buffer.from(created),
          Buffer.from(this.cam.credentials.password),
        ]),
      )
      .digest('base64');
    if (digest !== password) this.authFailures.wsse += 1;
    return digest === password;
  }

  private async serveSnapshot(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const authorization = req.headers.authorization;
    this.snapshotAuthSeen.push(authorization?.split(' ')[0]?.toLowerCase() ?? 'none');
    if (this.cam.snapshotAuth === 'basic') {
      const { username, password } = this.cam.credentials;
      if (authorization !== `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Qianliyan camera"' });
        return void res.end();
      }
    } else if (!this.cam.digest.verify(authorization, 'GET')) {
      res.writeHead(401, { 'WWW-Authenticate': this.cam.digest.challenge() });
      return void res.end();
    }
    this.served.set('snapshot', (this.served.get('snapshot') ?? 0) + 1);
    try {
      const jpeg = await this.cam.snapshot();
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': jpeg.length });
      res.end(jpeg);
    } catch {
      res.writeHead(503).end();
    }
  }

  /** A media address as this camera states it: its own, or (lying) the same path on a foreign host. */
  private mediaUrl(own: string, kind: 'rtsp' | 'http'): string {
    const foreign = this.cam.foreignMedia?.[kind];
    if (this.cam.misbehave !== 'lying' || !foreign) return own;
    const url = new URL(own);
    return `${foreign}${url.pathname}${url.search}`;
  }

  private profile(req: SoapRequest): SimProfile {
    const token = text(req.body.ProfileToken);
    const profile = this.cam.profiles.find((p) => p.token === token);
    if (!profile) throw new SoapFault(['ter:InvalidArgVal', 'ter:NoProfile'], `no profile ${token}`);
    return profile;
  }

  private requirePtz(): PtzMotor {
    if (!this.cam.ptz)
      throw new SoapFault(['ter:ActionNotSupported', 'ter:PTZNotSupported'], 'no PTZ on this camera');
    return this.cam.ptz;
  }

  private readonly handlers: Record<string, Handler> = {
    GetSystemDateAndTime: () => {
      const d = this.now();
      return `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone><tt:UTCDateTime><tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time><tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`;
    },
    GetDeviceInformation: () => {
      const i = this.cam.identity;
      return `<tds:GetDeviceInformationResponse><tds:Manufacturer>${escapeXml(i.manufacturer)}</tds:Manufacturer><tds:Model>${escapeXml(i.model)}</tds:Model><tds:FirmwareVersion>${escapeXml(i.firmware)}</tds:FirmwareVersion><tds:SerialNumber>${escapeXml(i.serial)}</tds:SerialNumber><tds:HardwareId>${escapeXml(i.hardwareId)}</tds:HardwareId></tds:GetDeviceInformationResponse>`;
    },
    GetServices: (req) => {
      const withCaps = text(req.body.IncludeCapability) === 'true';
      const service = (ns: string, path: string, major: number, minor: number, caps: string) =>
        `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>${this.base}${path}</tds:XAddr>${withCaps ? `<tds:Capabilities>${caps}</tds:Capabilities>` : ''}<tds:Version><tt:Major>${major}</tt:Major><tt:Minor>${minor}</tt:Minor></tds:Version></tds:Service>`;
      return `<tds:GetServicesResponse>${[
        service(
          'http://www.onvif.org/ver10/device/wsdl',
          '/onvif/device_service',
          2,
          60,
          '<tds:Capabilities><tds:Network/><tds:Security UsernameToken="true" HttpDigest="true"/><tds:System/></tds:Capabilities>',
        ),
        service(
          'http://www.onvif.org/ver10/media/wsdl',
          '/onvif/media_service',
          2,
          60,
          '<trt:Capabilities SnapshotUri="true"><trt:ProfileCapabilities MaximumNumberOfProfiles="2"/><trt:StreamingCapabilities RTP_TCP="true" RTP_RTSP_TCP="true"/></trt:Capabilities>',
        ),
        ...(this.cam.media2
          ? [
              service(
                'http://www.onvif.org/ver20/media/wsdl',
                '/onvif/media2_service',
                2,
                60,
                '<tr2:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false"><tr2:ProfileCapabilities MaximumNumberOfProfiles="2" ConfigurationsSupported="VideoSource VideoEncoder PTZ"/><tr2:StreamingCapabilities RTSPStreaming="true" RTPMulticast="false" RTP_RTSP_TCP="true"/></tr2:Capabilities>',
              ),
            ]
          : []),
        ...(this.cam.ptz
          ? [
              service(
                'http://www.onvif.org/ver20/ptz/wsdl',
                '/onvif/ptz_service',
                2,
                60,
                '<tptz:Capabilities/>',
              ),
            ]
          : []),
        service(
          'http://www.onvif.org/ver10/events/wsdl',
          '/onvif/events_service',
          2,
          60,
          '<tev:Capabilities WSPullPointSupport="true" MaxPullPoints="16"/>',
        ),
      ].join('')}</tds:GetServicesResponse>`;
    },
    GetCapabilities: () =>
      `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>${this.base}/onvif/device_service</tt:XAddr></tt:Device><tt:Events><tt:XAddr>${this.base}/onvif/events_service</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events><tt:Media><tt:XAddr>${this.base}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>${this.cam.ptz ? `<tt:PTZ><tt:XAddr>${this.base}/onvif/ptz_service</tt:XAddr></tt:PTZ>` : ''}</tds:Capabilities></tds:GetCapabilitiesResponse>`,
    GetScopes: () =>
      `<tds:GetScopesResponse>${this.scopes()
        .map(
          (s) => `<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>${s}</tt:ScopeItem></tds:Scopes>`,
        )
        .join('')}</tds:GetScopesResponse>`,
    GetHostname: () =>
      `<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP><tt:Name>${escapeXml(this.cam.identity.serial)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>`,
    GetProfiles: () =>
      `<trt:GetProfilesResponse>${this.cam.profiles.map((p) => this.profileXml(p, 'trt:Profiles')).join('')}</trt:GetProfilesResponse>`,
    GetProfile: (req) =>
      `<trt:GetProfileResponse>${this.profileXml(this.profile(req), 'trt:Profile')}</trt:GetProfileResponse>`,
    GetVideoSources: () => {
      const main = this.cam.profiles[0] as SimProfile;
      return `<trt:GetVideoSourcesResponse><trt:VideoSources token="VideoSource_1"><tt:Framerate>${main.fps}</tt:Framerate><tt:Resolution><tt:Width>${main.width}</tt:Width><tt:Height>${main.height}</tt:Height></tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>`;
    },
    GetStreamUri: (req) => {
      const profile = this.profile(req);
      this.refuseStreamUri('media1');
      return `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>${escapeXml(this.mediaUrl(profile.streamUrl, 'rtsp'))}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT60S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`;
    },
    GetSnapshotUri: (req) => {
      const profile = this.profile(req);
      if (this.cam.misbehave === 'media1-no-uri')
        throw new SoapFault(['ter:ActionNotSupported'], 'Optional Action Not Implemented', 'Receiver');
      return `<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>${escapeXml(this.mediaUrl(`${this.base}/onvif/snapshot.jpg?profile=${profile.token}`, 'http'))}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT60S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>`;
    },
    GetNodes: () => {
      this.requirePtz();
      return `<tptz:GetNodesResponse>${this.ptzNodeXml('tptz:PTZNode')}</tptz:GetNodesResponse>`;
    },
    GetNode: () => {
      this.requirePtz();
      return `<tptz:GetNodeResponse>${this.ptzNodeXml('tptz:PTZNode')}</tptz:GetNodeResponse>`;
    },
    GetConfigurationOptions: (req) => {
      this.requirePtz();
      if (text(req.body.ConfigurationToken) !== 'PTZConfig_1')
        throw new SoapFault(['ter:InvalidArgVal', 'ter:NoConfig'], 'no such PTZ configuration');
      return `<tptz:GetConfigurationOptionsResponse><tptz:PTZConfigurationOptions><tt:Spaces>${this.ptzSpacesXml()}</tt:Spaces><tt:PTZTimeout><tt:Min>PT1S</tt:Min><tt:Max>PT60S</tt:Max></tt:PTZTimeout></tptz:PTZConfigurationOptions></tptz:GetConfigurationOptionsResponse>`;
    },
    ContinuousMove: (req) => {
      const ptz = this.requirePtz();
      this.profile(req);
      const velocity = req.body.Velocity as Record<string, Record<string, string>> | undefined;
      const num = (v: string | undefined) => {
        const n = Number(v ?? 0);
        if (!Number.isFinite(n) || n < -1 || n > 1)
          throw new SoapFault(['ter:InvalidArgVal', 'ter:InvalidVelocity'], `velocity ${v} out of range`);
        return n;
      };
      const timeout = durationMs(text(req.body.Timeout));
      ptz.continuousMove(
        num(velocity?.PanTilt?.['@x']),
        num(velocity?.PanTilt?.['@y']),
        num(velocity?.Zoom?.['@x']),
        timeout,
      );
      return '<tptz:ContinuousMoveResponse/>';
    },
    Stop: (req) => {
      this.requirePtz().stop();
      this.profile(req);
      return '<tptz:StopResponse/>';
    },
    GetStatus: (req) => {
      const ptz = this.requirePtz();
      this.profile(req);
      const { x, y, zoom } = this.cam.misbehave === 'ptz-own-units' ? ownUnits(ptz) : ptz.generic();
      const moving = ptz.moving;
      return `<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position><tt:PanTilt x="${x}" y="${y}" space="http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"/><tt:Zoom x="${zoom}" space="http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"/></tt:Position><tt:MoveStatus><tt:PanTilt>${moving.panTilt ? 'MOVING' : 'IDLE'}</tt:PanTilt><tt:Zoom>${moving.zoom ? 'MOVING' : 'IDLE'}</tt:Zoom></tt:MoveStatus><tt:UtcTime>${this.now().toISOString()}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>`;
    },
    GetPresets: (req) => {
      const ptz = this.requirePtz();
      this.profile(req);
      return `<tptz:GetPresetsResponse>${[...ptz.presets.values()]
        .map((p) => {
          const pan = p.position.pan > 180 ? p.position.pan - 360 : p.position.pan;
          return `<tptz:Preset token="${escapeXml(p.token)}"><tt:Name>${escapeXml(p.name)}</tt:Name><tt:PTZPosition><tt:PanTilt x="${pan / 180}" y="${p.position.tilt / 90}"/><tt:Zoom x="${(p.position.zoom - 1) / 19}"/></tt:PTZPosition></tptz:Preset>`;
        })
        .join('')}</tptz:GetPresetsResponse>`;
    },
    GotoPreset: (req) => {
      const ptz = this.requirePtz();
      this.profile(req);
      const preset = ptz.presets.get(text(req.body.PresetToken) ?? '');
      if (!preset)
        throw new SoapFault(['ter:InvalidArgVal', 'ter:NoToken'], `no preset ${text(req.body.PresetToken)}`);
      ptz.moveTo({ ...preset.position });
      return '<tptz:GotoPresetResponse/>';
    },
    SetPreset: (req) => {
      const ptz = this.requirePtz();
      this.profile(req);
      const name = text(req.body.PresetName);
      if (name !== undefined && (name.length === 0 || name.length > 64))
        throw new SoapFault(
          ['ter:InvalidArgVal', 'ter:InvalidPresetName'],
          'preset name must be 1–64 characters',
        );
      const preset = ptz.setPreset(name, text(req.body.PresetToken));
      if (!preset) throw new SoapFault(['ter:Action', 'ter:TooManyPresets'], 'the preset list is full');
      return `<tptz:SetPresetResponse><tptz:PresetToken>${escapeXml(preset.token)}</tptz:PresetToken></tptz:SetPresetResponse>`;
    },
    RemovePreset: (req) => {
      const ptz = this.requirePtz();
      if (!ptz.presets.delete(text(req.body.PresetToken) ?? ''))
        throw new SoapFault(['ter:InvalidArgVal', 'ter:NoToken'], 'no such preset');
      return '<tptz:RemovePresetResponse/>';
    },
    GetEventProperties: () =>
      `<tev:GetEventPropertiesResponse><tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation><wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet><tns1:VideoSource><MotionAlarm wstop:topic="true"/><GlobalSceneChange><ImagingService wstop:topic="true"/></GlobalSceneChange></tns1:VideoSource><tns1:RuleEngine><LineDetector><Crossed wstop:topic="true"/></LineDetector><FieldDetector><ObjectsInside wstop:topic="true"/></FieldDetector></tns1:RuleEngine></wstop:TopicSet></tev:GetEventPropertiesResponse>`,
    CreatePullPointSubscription: (req) => {
      if (this.cam.misbehave === 'no-events')
        throw new SoapFault(
          ['ter:Action', 'ter:EventsUnavailable'],
          'the event service is not available',
          'Receiver',
        );
      const ttl = durationMs(text(req.body.InitialTerminationTime)) ?? 60_000;
      const sub = this.cam.events.create(Math.min(Math.max(ttl, 10_000), 3_600_000));
      if (!sub)
        throw new SoapFault(['ter:Action', 'ter:TooManySubscriptions'], 'too many subscriptions', 'Receiver');
      const now = this.now();
      return `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${this.base}/onvif/pullpoint/${sub.id}</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>${now.toISOString()}</wsnt:CurrentTime><wsnt:TerminationTime>${new Date(sub.expires + this.cam.clockOffsetMs).toISOString()}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`;
    },
  };

  /** Media2 (ver20/media): the same profiles, in Profile T's shape, and their URIs. */
  private readonly media2Handlers: Record<string, Handler> = {
    GetProfiles: () =>
      `<tr2:GetProfilesResponse>${this.cam.profiles.map((p) => this.media2ProfileXml(p)).join('')}</tr2:GetProfilesResponse>`,
    GetStreamUri: (req) => {
      const profile = this.profile(req);
      this.refuseStreamUri('media2');
      return `<tr2:GetStreamUriResponse><tr2:Uri>${escapeXml(this.mediaUrl(profile.streamUrl, 'rtsp'))}</tr2:Uri></tr2:GetStreamUriResponse>`;
    },
    GetSnapshotUri: (req) => {
      const profile = this.profile(req);
      return `<tr2:GetSnapshotUriResponse><tr2:Uri>${escapeXml(this.mediaUrl(`${this.base}/onvif/snapshot.jpg?profile=${profile.token}`, 'http'))}</tr2:Uri></tr2:GetSnapshotUriResponse>`;
    },
  };

  /** What a misbehaving camera says instead of a stream URI. */
  private refuseStreamUri(service: 'media1' | 'media2'): void {
    const m = this.cam.misbehave;
    if (m === 'no-stream' || (m === 'media1-no-uri' && service === 'media1'))
      throw new SoapFault(['ter:ActionNotSupported'], 'Optional Action Not Implemented', 'Receiver');
  }

  private media2ProfileXml(p: SimProfile): string {
    const main = this.cam.profiles[0] as SimProfile;
    const ptz = this.cam.ptz
      ? '<tr2:PTZ token="PTZConfig_1"><tt:Name>PTZ</tt:Name><tt:UseCount>2</tt:UseCount><tt:NodeToken>PTZNode_1</tt:NodeToken><tt:DefaultAbsolutePantTiltPositionSpace>http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace</tt:DefaultAbsolutePantTiltPositionSpace><tt:DefaultAbsoluteZoomPositionSpace>http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace</tt:DefaultAbsoluteZoomPositionSpace></tr2:PTZ>'
      : '';
    return `<tr2:Profiles token="${p.token}" fixed="true"><tr2:Name>${escapeXml(p.name)}</tr2:Name><tr2:Configurations><tr2:VideoSource token="VideoSourceConfig_1"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>${this.cam.profiles.length}</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="${main.width}" height="${main.height}"/></tr2:VideoSource><tr2:VideoEncoder token="VideoEncoder_${p.token}" GovLength="${p.fps}" Profile="Baseline"><tt:Name>VideoEncoder_${p.token}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>${p.width}</tt:Width><tt:Height>${p.height}</tt:Height></tt:Resolution><tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>${p.fps}</tt:FrameRateLimit><tt:BitrateLimit>${p.kbps}</tt:BitrateLimit></tt:RateControl><tt:Quality>4</tt:Quality></tr2:VideoEncoder>${ptz}</tr2:Configurations></tr2:Profiles>`;
  }

  /** The head's position spaces: generic (-1…1, zoom 0…1), or its own units under the generic URIs. */
  private ptzSpacesXml(): string {
    const own = this.cam.misbehave === 'ptz-own-units';
    const r = (min: number, max: number) => `<tt:Min>${min}</tt:Min><tt:Max>${max}</tt:Max>`;
    const [pan, tilt, zoom] = own ? [180 * FIXED, 90 * FIXED, 19 * FIXED] : [1, 1, 1];
    return `<tt:AbsolutePanTiltPositionSpace><tt:URI>${GENERIC_PAN_TILT}</tt:URI><tt:XRange>${r(-pan, pan)}</tt:XRange><tt:YRange>${r(-tilt, tilt)}</tt:YRange></tt:AbsolutePanTiltPositionSpace><tt:AbsoluteZoomPositionSpace><tt:URI>${GENERIC_ZOOM}</tt:URI><tt:XRange>${r(0, zoom)}</tt:XRange></tt:AbsoluteZoomPositionSpace><tt:ContinuousPanTiltVelocitySpace><tt:URI>http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace</tt:URI><tt:XRange>${r(-1, 1)}</tt:XRange><tt:YRange>${r(-1, 1)}</tt:YRange></tt:ContinuousPanTiltVelocitySpace><tt:ContinuousZoomVelocitySpace><tt:URI>http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace</tt:URI><tt:XRange>${r(-1, 1)}</tt:XRange></tt:ContinuousZoomVelocitySpace>`;
  }

  private ptzNodeXml(element: string): string {
    return `<${element} token="PTZNode_1" FixedHomePosition="false"><tt:Name>PTZ</tt:Name><tt:SupportedPTZSpaces>${this.ptzSpacesXml()}</tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>256</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported></${element}>`;
  }

  private subscriptionHandler(id: string): Handler {
    return async (req) => {
      const events = this.cam.events;
      const stale = () =>
        new SoapFault(
          ['ter:InvalidArgVal', 'wsrf-rw:ResourceUnknownFault'],
          'unknown or expired subscription',
        );
      switch (req.action) {
        case 'PullMessages': {
          const timeout = durationMs(text(req.body.Timeout)) ?? 10_000;
          const limit = Math.min(100, Number(text(req.body.MessageLimit) ?? 10) || 10);
          const messages = await events.pull(id, timeout, limit);
          if (!messages) throw stale();
          const now = this.now();
          return `<tev:PullMessagesResponse><tev:CurrentTime>${now.toISOString()}</tev:CurrentTime><tev:TerminationTime>${new Date(now.getTime() + 60_000).toISOString()}</tev:TerminationTime>${messages.map(notificationXml).join('')}</tev:PullMessagesResponse>`;
        }
        case 'Renew': {
          const ttl = durationMs(text(req.body.TerminationTime)) ?? 60_000;
          const expires = events.renew(id, Math.min(Math.max(ttl, 10_000), 3_600_000));
          if (expires === undefined) throw stale();
          return `<wsnt:RenewResponse><wsnt:TerminationTime>${new Date(expires + this.cam.clockOffsetMs).toISOString()}</wsnt:TerminationTime><wsnt:CurrentTime>${this.now().toISOString()}</wsnt:CurrentTime></wsnt:RenewResponse>`;
        }
        case 'Unsubscribe':
          events.unsubscribe(id);
          return '<wsnt:UnsubscribeResponse/>';
        default:
          throw new SoapFault(['ter:ActionNotSupported'], `${req.action} is not a subscription operation`);
      }
    };
  }

  private profileXml(p: SimProfile, element: string): string {
    const ptz = this.cam.ptz
      ? '<tt:PTZConfiguration token="PTZConfig_1"><tt:Name>PTZ</tt:Name><tt:UseCount>2</tt:UseCount><tt:NodeToken>PTZNode_1</tt:NodeToken><tt:DefaultContinuousPanTiltVelocitySpace>http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace</tt:DefaultContinuousPanTiltVelocitySpace><tt:DefaultContinuousZoomVelocitySpace>http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace</tt:DefaultContinuousZoomVelocitySpace><tt:DefaultAbsolutePantTiltPositionSpace>http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace</tt:DefaultAbsolutePantTiltPositionSpace><tt:DefaultAbsoluteZoomPositionSpace>http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace</tt:DefaultAbsoluteZoomPositionSpace><tt:DefaultPTZTimeout>PT5S</tt:DefaultPTZTimeout></tt:PTZConfiguration>'
      : '';
    const main = this.cam.profiles[0] as SimProfile;
    return `<${element} token="${p.token}" fixed="true"><tt:Name>${escapeXml(p.name)}</tt:Name><tt:VideoSourceConfiguration token="VideoSourceConfig_1"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>${this.cam.profiles.length}</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="${main.width}" height="${main.height}"/></tt:VideoSourceConfiguration><tt:VideoEncoderConfiguration token="VideoEncoder_${p.token}"><tt:Name>VideoEncoder_${p.token}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>${p.width}</tt:Width><tt:Height>${p.height}</tt:Height></tt:Resolution><tt:Quality>4</tt:Quality><tt:RateControl><tt:FrameRateLimit>${p.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>${p.kbps}</tt:BitrateLimit></tt:RateControl><tt:H264><tt:GovLength>${p.fps}</tt:GovLength><tt:H264Profile>Baseline</tt:H264Profile></tt:H264><tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>${ptz}</${element}>`;
  }

  scopes(): string[] {
    const i = this.cam.identity;
    const enc = (s: string) => encodeURIComponent(s);
    return [
      'onvif://www.onvif.org/Profile/Streaming',
      `onvif://www.onvif.org/type/${this.cam.ptz ? 'ptz' : 'video_encoder'}`,
      `onvif://www.onvif.org/hardware/${enc(i.model)}`,
      `onvif://www.onvif.org/name/${enc(i.manufacturer)}_${enc(i.model)}`,
      'onvif://www.onvif.org/location/country/china',
    ];
  }
}

const PRE_AUTH = new Set([
  'GetSystemDateAndTime',
  'GetServices',
  'GetCapabilities',
  'GetServiceCapabilities',
]);

export class SoapFault extends Error {
  constructor(
    readonly subcodes: string[],
    message: string,
    readonly code: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

/** The head's position in 16.16 fixed-point degrees (pan ±180°, tilt ±90°) and zoom steps above 1×. */
function ownUnits(ptz: PtzMotor): { x: number; y: number; zoom: number } {
  const p = ptz.tick();
  const pan = p.pan > 180 ? p.pan - 360 : p.pan;
  return {
    x: Math.round(pan * FIXED),
    y: Math.round(p.tilt * FIXED),
    zoom: Math.round((p.zoom - 1) * FIXED),
  };
}

function notificationXml(n: Notification): string {
  const items = (tag: string, list: { name: string; value: string }[]) =>
    `<tt:${tag}>${list.map((i) => `<tt:SimpleItem Name="${escapeXml(i.name)}" Value="${escapeXml(i.value)}"/>`).join('')}</tt:${tag}>`;
  return `<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${escapeXml(n.topic)}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="${n.utc}"${n.operation ? ` PropertyOperation="${n.operation}"` : ''}>${items('Source', n.source)}${items('Data', n.data)}</tt:Message></wsnt:Message></wsnt:NotificationMessage>`;
}
