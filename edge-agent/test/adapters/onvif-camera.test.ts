/**
 * The onvif-camera adapter.
 *  - Golden parsing of every vendor's recorded answers in ../shared/fixtures/onvif-* (the figures
 *    each folder's SOURCE.md states): profiles, stream and snapshot URIs, presets, PTZ status,
 *    faults with their subcodes, an HTML 401, malformed XML, motion events, WS-Discovery matches.
 *  - The adapter, through the real `onvif` package, against recorded cameras served by the
 *    simulator's replay mode.
 *  - The adapter against the live ONVIF simulator: WS-UsernameToken with a skewed camera clock,
 *    HTTP Digest, PTZ moves that move the simulated head, presets, PullPoint events arriving as
 *    device events, discovery by unicast probe, and cameras that answer garbage, an HTML 401 or
 *    nothing (a clear device error; the adapter keeps running and reconnects).
 *  - Credentials: a lying camera's foreign media addresses are refused and never contacted; Basic is
 *    never sent over plain HTTP; a stream runs through the agent's RTSP relay with no password on
 *    any ffmpeg command line.
 *  - Cameras as they are in the field (the simulator's misbehaviour modes and the recordings):
 *    stream URIs only from Media2, PTZ positions in the head's own units, capabilities that follow
 *    what works, errors with a code and a sentence (a wrong answer, an HTTP 401 inside a SOAP fault
 *    and its backoff), identity placeholders and the firmware in the descriptor.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createConnection, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validatePayload } from '@qianliyan/protocols/validate';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { FIXTURES, fixturesAvailable } from '../../../tests/support/fixtures.ts';
import { waitFor } from '../../../tests/support/wait.ts';
import {
  BadResponse,
  EventNormalizer,
  OnvifFault,
  parseDeviceInformation,
  parseMediaUri,
  parseNotifications,
  parsePresets,
  parseProfiles,
  parsePtzSpaces,
  parsePtzStatus,
  pickStreams,
  soapBody,
} from '../../src/adapters/onvif-camera/converters.ts';
import { discover, parseProbeMatches } from '../../src/adapters/onvif-camera/discovery.ts';
import { onvifCamera } from '../../src/adapters/onvif-camera/index.ts';
import {
  GENERIC_PAN_TILT,
  GENERIC_ZOOM,
  PtzNormaliser,
} from '../../src/adapters/onvif-camera/ptz-position.ts';
import { CameraSimulator } from '../../src/adapters/onvif-camera/simulator/index.ts';
import type { Misbehaviour } from '../../src/adapters/onvif-camera/simulator/onvif-server.ts';
import { ReplayOnvifServer } from '../../src/adapters/onvif-camera/simulator/replay.ts';
import type { AdapterContext, DeviceAdapter } from '../../src/adapters/types.ts';
import { HubLink } from '../../src/video/hub-link.ts';
import { RtspAuthRelay } from '../../src/video/rtsp-relay.ts';

const read = (path: string) => readFileSync(join(FIXTURES, path), 'utf8');
const easy = (device: string, file: string) => read(`onvif-easy-onvif/${device}/${file}`);

describe.skipIf(!fixturesAvailable('onvif-easy-onvif'))('recorded answers of real cameras (golden)', () => {
  it('ENP1A14 (Hikvision OEM PTZ): 3 H.265 profiles, multicast media1 URI, 300 presets, position', () => {
    const profiles = parseProfiles(easy('ENP1A14-IR_25X', 'media1/GetProfilesResponse.xml'));
    expect(profiles.map((p) => [p.token, p.encoding, p.width, p.height, p.ptz])).toEqual([
      ['Profile_1', 'H265', 2560, 1440, true],
      ['Profile_2', 'H265', 704, 480, true],
      ['Profile_3', undefined, undefined, undefined, true],
    ]);
    const { main, sub } = pickStreams(profiles);
    expect([main?.token, sub?.token]).toEqual(['Profile_1', 'Profile_2']);
    expect(parseMediaUri(easy('ENP1A14-IR_25X', 'media1/GetStreamUriResponse.xml'))).toBe(
      'rtsp://192.168.1.182:554/Streaming/Channels/101?transportmode=mcast&profile=Profile_1',
    );
    expect(parseMediaUri(easy('ENP1A14-IR_25X', 'media2/GetStreamUriResponse.xml'))).toBe(
      'rtsp://192.168.1.182/Streaming/Channels/101?transportmode=unicast&profile=Profile_1',
    );
    expect(parseMediaUri(easy('ENP1A14-IR_25X', 'media1/GetSnapshotUriResponse.xml'))).toBe(
      'http://192.168.1.182/onvif-http/snapshot?Profile_1',
    );
    const presets = parsePresets(easy('ENP1A14-IR_25X', 'ptz/GetPresetsResponse.xml'));
    expect(presets).toHaveLength(300);
    expect(presets[0]).toEqual({ token: '1', name: 'MIMBER' });
    expect(parsePtzStatus(easy('ENP1A14-IR_25X', 'ptz/GetStatusResponse.xml'))).toMatchObject({
      pan: 0.801444,
      tilt: -0.982444,
      zoom: 0.05375,
    });
    expect(
      parseDeviceInformation(easy('ENP1A14-IR_25X', 'device_management/GetDeviceInformationResponse.xml')),
    ).toMatchObject({
      manufacturer: 'ONVIF',
      model: 'ENP1A14-IR/25X',
      firmware: 'V5.5.3 build 180822',
    });
  });

  it('IPG-8150PSS, D-Link DCS-6511, SUNBA and Happytimesoft: profiles, URIs, presets', () => {
    expect(
      parseProfiles(easy('IPG-8150PSS', 'media1/GetProfilesResponse.xml')).map((p) => [
        p.token,
        p.encoding,
        p.width,
        p.height,
      ]),
    ).toEqual([
      ['PROFILE_000', 'H264', 2560, 1920],
      ['PROFILE_001', 'H264', 800, 448],
    ]);
    expect(parseMediaUri(easy('IPG-8150PSS', 'media1/GetStreamUriResponse.xml'))).toBe(
      'rtsp://10.200.1.2/live/0/MAIN',
    );
    expect(parseMediaUri(easy('IPG-8150PSS', 'media1/GetSnapshotUriResponse.xml'))).toBe(
      'http://10.200.1.2:80/SnapShot_Ch0.jpg',
    );
    expect(parsePresets(easy('IPG-8150PSS', 'ptz/GetPresetsResponse.xml'))[0]?.token).toBe('z_ovf_ptz_01');
    expect(parsePresets(easy('IPG-8150PSS', 'ptz/GetPresetsResponse.xml'))).toHaveLength(100);
    expect(
      parseProfiles(easy('DCS-6511', 'media1/GetProfilesResponse.xml')).map((p) => [
        p.encoding,
        p.width,
        p.height,
      ]),
    ).toEqual([
      ['H264', 1280, 1024],
      ['H264', 640, 480],
    ]);
    expect(parseMediaUri(easy('DCS-6511', 'media1/GetSnapshotUriResponse.xml'))).toBe(
      'http://192.168.1.33/dms?nowprofileid=1',
    );
    expect(parsePresets(easy('SUNBA', 'ptz/GetPresetsResponse.xml'))).toHaveLength(255);
    // SUNBA's media2 stream URI has no port; SUNBA's sub-stream is its smallest H.264 profile.
    expect(parseMediaUri(easy('SUNBA', 'media2/GetStreamUriResponse.xml'))).toBe(
      'rtsp://162.191.54.181/media/video1',
    );
    expect(pickStreams(parseProfiles(easy('SUNBA', 'media1/GetProfilesResponse.xml'))).sub?.token).toBe(
      'media_profile3',
    );
    expect(parsePtzStatus(easy('SUNBA', 'ptz/GetStatusResponse.xml'))).toEqual({
      pan: 0.5,
      tilt: 0.499777734,
      zoom: 0,
      panTiltSpace: 'http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace',
      zoomSpace: 'http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace',
      moving: { panTilt: false, zoom: false },
    });
    // Happytimesoft's URI carries parameters after & without ?.
    expect(parseMediaUri(easy('happytimesoft', 'media1/GetStreamUriResponse.xml'))).toBe(
      'rtsp://192.168.2.119/test.mp4&t=unicast&p=rtsp&ve=H264&w=1280&h=720&ae=PCMU&sr=8000',
    );
    expect(parsePresets(easy('happytimesoft', 'ptz/GetPresetsResponse.xml'))).toEqual([]);
  });

  it('faults surface with their subcodes; malformed XML is a clean BadResponse', () => {
    const fault = (file: string) => {
      try {
        soapBody(easy(file.split('/')[0] as string, file.split('/').slice(1).join('/')));
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const enp = fault('ENP1A14-IR_25X/device_management/Fault.xml') as OnvifFault;
    expect(enp).toBeInstanceOf(OnvifFault);
    expect(enp.subcodes).toEqual(['ter:OperationProhibited', 'ter:Password']);
    expect(enp.reason).toBe('Too weak password.');
    expect((fault('SUNBA/device_management/Fault.xml') as OnvifFault).subcodes).toEqual([
      'ter:ActionNotSupported',
    ]);
    expect((fault('IPG-8150PSS/device_management/Fault.xml') as OnvifFault).subcodes).toEqual([
      'ter:ActionNotSupported',
    ]);
    expect(fault('unknown/device_management/GetCapabilitiesResponse.xml')).toBeInstanceOf(BadResponse);
  });
});

describe.skipIf(!fixturesAvailable('onvif-2bad-live'))(
  'live captures (EZVIZ, DVC) and the onvif package mock',
  () => {
    const live = (path: string) => read(`onvif-2bad-live/${path}`);

    it('motion start and end 30 s apart (EZVIZ); one motion start for two topics (DVC)', () => {
      const ezviz = new EventNormalizer();
      const events = [
        ...parseNotifications(live('ezviz_ds-2de2c400ig-w-w/events.PullMessagesMotion.xml')),
        ...parseNotifications(live('ezviz_ds-2de2c400ig-w-w/events.PullMessagesMotionEnd.xml')),
      ].flatMap((n) => {
        const e = ezviz.normalize(n);
        return e ? [[e.type, e.state, new Date(e.ts).toISOString(), e.source]] : [];
      });
      expect(events).toEqual([
        ['motion', 'start', '2026-10-07T18:41:46.000Z', 'VideoSource_1'],
        ['motion', 'end', '2026-10-07T18:42:16.000Z', 'VideoSource_1'],
      ]);
      const dvc = new EventNormalizer();
      const notifications = parseNotifications(live('dvc_dcn-bf5365/events.PullMessagesMotion.xml'));
      expect(notifications.map((n) => n.topic)).toEqual([
        'tns1:VideoSource/MotionAlarm',
        'tns1:RuleEngine/CellMotionDetector/Motion',
      ]);
      const dvcEvents = notifications.flatMap((n) => dvc.normalize(n) ?? []);
      expect(dvcEvents.map((e) => [e.type, e.state, new Date(e.ts).toISOString()])).toEqual([
        ['motion', 'start', '2026-10-03T02:56:20.000Z'],
      ]);
    });

    it('stream URIs, an HTML 401 page read as "unauthorized", PTZ status without a position', () => {
      expect(parseMediaUri(live('ezviz_ds-2de2c400ig-w-w/media.GetStreamUri.xml'))).toBe(
        'rtsp://192.0.2.13:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1',
      );
      expect(parseMediaUri(live('dvc_dcn-bf5365/media.GetStreamUri.xml'))).toBe(
        'rtsp://192.0.2.14:554/profile1',
      );
      let html: unknown;
      try {
        soapBody(live('ezviz_ds-2de2c400ig-w-w/device.GetSystemDateAndTimeUnauthorizedFault.xml'));
      } catch (err) {
        html = err;
      }
      expect((html as OnvifFault).notAuthorized).toBe(true);
      // Still MOVING 3 s after a Stop, and no Position element: the quirk is kept, nothing invented.
      expect(parsePtzStatus(live('ezviz_ds-2de2c400ig-w-w/ptz.GetStatusStopped.xml'))).toEqual({
        moving: { panTilt: true, zoom: true },
      });
    });

    it('WS-Discovery matches: XAddrs split and trimmed, scopes read, one device per endpoint', () => {
      const ezviz = parseProbeMatches(live('ezviz_ds-2de2c400ig-w-w/discovery.ProbeMatches.xml'));
      expect(ezviz).toHaveLength(1);
      expect(ezviz[0]?.xaddrs).toEqual([
        'http://192.0.2.13/onvif/device_service',
        'https://192.0.2.13/onvif/device_service',
      ]);
      expect(ezviz[0]?.hardware).toBe('DS-2DE2C400IG-W-W');
      expect(ezviz[0]?.ptz).toBe(true);
      expect(ezviz[0]?.scopes).toContain('onvif://www.onvif.org/Profile/G');
      const dvc = parseProbeMatches(live('dvc_dcn-bf5365/discovery.ProbeMatches.xml'));
      expect(dvc[0]?.xaddrs).toEqual([
        'http://192.0.2.14:80/onvif/device_service',
        'http://[fe80::a]:80/onvif/device_service',
      ]);
      expect(dvc[0]?.hardware).toBe('DCN-BF5365');
      expect(parseProbeMatches('<not xml')).toEqual([]);
    });
  },
);

/** A context that records what the adapter reports. */
function recorder() {
  const seen = {
    telemetry: [] as Record<string, unknown>[],
    events: [] as Array<{ type: string; severity: string; data?: Record<string, unknown> }>,
    availability: [] as Array<{ online: boolean; reason?: string }>,
    meta: 0,
  };
  const ctx: AdapterContext = {
    dataDir: '/nonexistent/qly-test-device',
    cacheDir: '/nonexistent/qly-test-cache',
    log: pino({ level: process.env.QLY_TEST_LOG_LEVEL ?? 'silent' }),
    telemetry: (values) => void seen.telemetry.push(values),
    event: (type, severity, data) => void seen.events.push({ type, severity, ...(data ? { data } : {}) }),
    availability: (online, reason) => void seen.availability.push({ online, ...(reason ? { reason } : {}) }),
    metaChanged: () => {
      seen.meta += 1;
    },
    hub: undefined,
  };
  return { seen, ctx };
}

const dir = mkdtempSync(join(tmpdir(), 'qly-onvif-'));
const passwordFile = (password: string) => {
  const file = join(dir, `pw-${password}`);
  writeFileSync(file, password, { mode: 0o600 });
  return file;
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cameraConfig(xaddr: string, password: string, extra: Record<string, unknown> = {}) {
  return {
    type: 'onvif-camera' as const,
    id: 'cam-1',
    name: 'Gate',
    position: { lat: 30, lon: 120 },
    xaddr,
    username: 'admin',
    passwordFile: passwordFile(password),
    events: true,
    rewriteMediaHost: false,
    timeoutMs: 2000,
    healthIntervalMs: 60_000,
    reconnectMinMs: 200,
    reconnectMaxMs: 1000,
    ...extra,
  };
}

describe.skipIf(!fixturesAvailable('onvif-easy-onvif'))(
  'the adapter against recorded cameras (replay mode)',
  () => {
    const servers: ReplayOnvifServer[] = [];
    const adapters: DeviceAdapter[] = [];
    afterEach(async () => {
      for (const a of adapters.splice(0)) await a.stop();
      for (const s of servers.splice(0)) await s.stop();
    });

    async function replay(folder: string) {
      const server = new ReplayOnvifServer(join(FIXTURES, folder));
      await server.start();
      servers.push(server);
      const { seen, ctx } = recorder();
      // The recorded cameras name media on their own LAN addresses, not on the replay server's:
      // as a camera behind NAT, its paths are used on the configured host.
      const adapter = onvifCamera.create(
        cameraConfig(server.xaddr, 'anything', { events: false, rewriteMediaHost: true }),
        ctx,
      );
      adapters.push(adapter);
      adapter.start();
      return { server, seen, adapter };
    }

    const stream = (name: string, codec: string, width: number, height: number, fps: number) => ({
      name,
      codec,
      width,
      height,
      fps,
    });
    it.each([
      [
        'onvif-easy-onvif/ENP1A14-IR_25X',
        'ONVIF ENP1A14-IR/25X',
        [stream('main', 'h265', 2560, 1440, 25), stream('sub', 'h265', 704, 480, 10)],
        true,
      ],
      [
        'onvif-easy-onvif/IPG-8150PSS',
        'ONVIF_IPNC IPG-8150PSS',
        [stream('main', 'h264', 2560, 1920, 20), stream('sub', 'h264', 800, 448, 20)],
        true,
      ],
      [
        'onvif-easy-onvif/SUNBA',
        'SUNBA Performance-Series',
        [stream('main', 'h264', 2592, 1944, 12), stream('sub', 'h264', 352, 288, 25)],
        true,
      ],
      [
        'onvif-easy-onvif/happytimesoft',
        'Happytimesoft IPCamera',
        [stream('main', 'h264', 1280, 720, 25), stream('sub', 'h264', 640, 480, 25)],
        true,
      ],
      // The D-Link capture has no GetStreamUri answer: no stream is offered rather than a broken one.
      ['onvif-easy-onvif/DCS-6511', 'D-Link Corporation DCS-6511', undefined, false],
      [
        'onvif-agsh-onvif-mockup',
        'Mockup Manufacturer Mockup Model',
        [stream('main', 'h264', 1920, 1080, 5), stream('sub', 'h264', 1920, 1080, 5)],
        true,
      ],
    ])(
      '%s: connects through the onvif package; model, streams and PTZ as recorded',
      async (folder, model, streams, ptz) => {
        const { seen, adapter } = await replay(folder);
        await waitFor(`${folder} connected`, () => seen.availability.some((a) => a.online), 10_000);
        const descriptor = adapter.describe();
        expect(descriptor.model).toBe(model);
        expect(descriptor.streams).toEqual(streams);
        expect(descriptor.capabilities.includes('video')).toBe(streams !== undefined);
        expect(descriptor.capabilities.includes('ptz')).toBe(ptz);
        // The recorded camera's address and credentials never appear in what is published.
        expect(JSON.stringify(descriptor)).not.toMatch(/rtsp:|admin|anything/);
      },
    );

    it('a camera that answers an HTML 401 page is unavailable with "refused the credentials"', async () => {
      const { seen } = await replay('onvif-2bad-live/ezviz_ds-2de2c400ig-w-w');
      const off = await waitFor('unavailable', () => seen.availability.find((a) => !a.online), 10_000);
      expect(off.reason).toMatch(/^ONVIF_UNAUTHORIZED: the camera refused the credentials/);
    });
  },
);

describe('the adapter against the ONVIF camera simulator', () => {
  let sim: CameraSimulator;
  const adapters: DeviceAdapter[] = [];
  beforeAll(async () => {
    sim = new CameraSimulator({
      credentials: { username: 'admin', password: 'right-password' },
      // A camera whose clock was never set: WS-UsernameToken must use the camera's time.
      clockOffsetMs: 3 * 3600_000 + 1234,
      discoveryPort: 0,
    });
    await sim.start();
  });
  afterAll(async () => sim.stop());
  afterEach(async () => {
    sim.misbehave = 'none';
    for (const a of adapters.splice(0)) await a.stop();
  });

  function connect(password = 'right-password', extra: Record<string, unknown> = {}) {
    const { seen, ctx } = recorder();
    const adapter = onvifCamera.create(cameraConfig(sim.xaddr, password, extra), ctx);
    adapters.push(adapter);
    adapter.start();
    return { seen, adapter };
  }
  const action = (adapter: DeviceAdapter, name: string) =>
    (adapter.actions as Record<string, (p: Record<string, unknown>) => Promise<unknown>>)[name] as (
      p: Record<string, unknown>,
    ) => Promise<unknown>;

  it('connects with WS-UsernameToken despite a camera clock 3 h off; reads profiles and streams', async () => {
    const before = sim.onvifServer?.authFailures.clock ?? 0;
    const { seen, adapter } = connect();
    await waitFor('online', () => seen.availability.some((a) => a.online), 10_000);
    expect(sim.onvifServer?.authFailures.clock).toBe(before);
    const d = adapter.describe();
    expect(d.model).toBe('Qianliyan QLY-SIM-PTZ');
    expect(d.streams).toEqual([
      { name: 'main', codec: 'h264', width: 640, height: 360, fps: 15 },
      { name: 'sub', codec: 'h264', width: 320, height: 180, fps: 15 },
    ]);
    expect(d.capabilities).toEqual(expect.arrayContaining(['video', 'snapshot', 'ptz', 'event.motion']));
    expect(Object.keys(adapter.actions ?? {})).toEqual(
      expect.arrayContaining([
        'stream.start',
        'stream.stop',
        'camera.snapshot',
        'ptz.move',
        'ptz.preset.goto',
      ]),
    );
    expect(JSON.stringify(d)).not.toContain('right-password');
  });

  it('speaks HTTP Digest to a camera that takes nothing else', async () => {
    const digest = new CameraSimulator({
      credentials: { username: 'admin', password: 'right-password' },
      auth: 'digest',
      ptz: false,
    });
    await digest.start();
    try {
      const { seen, ctx } = recorder();
      const adapter = onvifCamera.create(cameraConfig(digest.xaddr, 'right-password'), ctx);
      adapters.push(adapter);
      adapter.start();
      await waitFor('online over digest', () => seen.availability.some((a) => a.online), 10_000);
      expect(adapter.describe().capabilities).not.toContain('ptz');
      expect(digest.onvifServer?.served.get('GetProfiles')).toBeGreaterThan(0);
    } finally {
      await digest.stop();
    }
  });

  it('PTZ: a move turns the simulated head and stops after its duration; presets set, list and go', async () => {
    const { seen, adapter } = connect();
    await waitFor('online', () => seen.availability.some((a) => a.online), 10_000);
    const ptz = sim.ptz as NonNullable<typeof sim.ptz>;
    ptz.moveTo({ pan: 10, tilt: 0, zoom: 1 });
    await action(adapter, 'ptz.move')({ pan: 1, tilt: 0, zoom: 0, durationMs: 500 });
    await waitFor('head stopped', () => !ptz.moving.panTilt && ptz.position.pan > 30, 3000);
    // 60°/s at full speed for ~0.5 s (the gateway stops it even if the camera ignored Timeout).
    expect(ptz.position.pan).toBeGreaterThan(30);
    expect(ptz.position.pan).toBeLessThan(50);
    expect(ptz.moves.at(-1)).toMatchObject({ pan: 1, tilt: 0, zoom: 0 });
    const panned = ptz.position.pan;
    await waitFor(
      'position reported',
      () => seen.telemetry.some((t) => Math.abs((t.pan as number) - panned) < 1),
      3000,
    );

    await action(adapter, 'ptz.preset.set')({ preset: 'gate', name: 'Gate <east>' });
    const list = (await action(adapter, 'ptz.preset.list')({})) as {
      presets: Array<{ preset: string; name: string }>;
    };
    expect(list.presets).toEqual(expect.arrayContaining([{ preset: 'gate', name: 'Gate <east>' }]));
    ptz.moveTo({ pan: 200, tilt: -20, zoom: 3 });
    await action(adapter, 'ptz.preset.goto')({ preset: 'gate' });
    expect(ptz.position.pan).toBeCloseTo(panned, 5);
    await expect(action(adapter, 'ptz.preset.goto')({ preset: 'nope' })).rejects.toMatchObject({
      code: 'EDGE_ERR_CAMERA_REFUSED',
    });
  });

  it('camera events arrive as device events: motion start and end, tamper, line crossing', async () => {
    // This adapter's own subscription (earlier tests' adapters may still hold theirs).
    const createdBefore = sim.events.created;
    const { seen } = connect();
    await waitFor('online', () => seen.availability.some((a) => a.online), 10_000);
    await waitFor('subscribed', () => sim.events.created > createdBefore, 5000);
    sim.trigger('motion', true);
    sim.trigger('motion', true); // a repeat of the same state is not news
    sim.trigger('tamper', true);
    sim.trigger('line');
    sim.trigger('motion', false);
    // (Generous: the PullPoint round trip competes with the whole suite for two cores in CI.)
    await waitFor('events', () => seen.events.length >= 4, 15_000);
    expect(seen.events.map((e) => [e.type, e.severity, e.data?.state])).toEqual([
      ['motion', 'warning', 'start'],
      ['tamper', 'critical', 'start'],
      ['line_crossing', 'warning', undefined],
      ['motion', 'info', 'end'],
    ]);
    expect(seen.events[2]?.data).toMatchObject({ topic: 'RuleEngine/LineDetector/Crossed', Rule: 'Gate' });
  });

  it('discovers the camera by a unicast WS-Discovery probe', async () => {
    const found = await discover({
      timeoutMs: 500,
      targets: [`127.0.0.1:${sim.discoveryPort}`],
      multicast: false,
    });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      endpoint: sim.endpoint,
      xaddrs: [sim.xaddr],
      hardware: 'QLY-SIM-PTZ',
      ptz: true,
    });
  });

  it('a wrong password: unavailable with "refused the credentials", and no fast retry', async () => {
    const { seen, adapter } = connect('wrong-password');
    const off = await waitFor('refused', () => seen.availability.find((a) => !a.online), 10_000);
    expect(off.reason).toMatch(/^ONVIF_UNAUTHORIZED: the camera refused the credentials; next try in 2 min/);
    expect((adapter as unknown as { connected: boolean }).connected).toBe(false);
  });

  it.each([
    ['garbage', 'ONVIF_BAD_RESPONSE: the camera answers, but not ONVIF'],
    ['html-401', 'ONVIF_UNAUTHORIZED: the camera refused the credentials'],
    ['hang', 'ONVIF_TIMEOUT: the camera does not answer'],
  ] as const)(
    'a camera answering %s: a clear device error; the adapter recovers when it behaves',
    async (mode, reason) => {
      sim.misbehave = mode;
      const { seen } = connect('right-password', { timeoutMs: 600 });
      const off = await waitFor(`${mode} reported`, () => seen.availability.find((a) => !a.online), 10_000);
      expect(off.reason?.startsWith(reason)).toBe(true);
      if (mode === 'html-401') return; // credentials are retried slowly: minutes, not this test
      sim.misbehave = 'none';
      await waitFor('back online', () => seen.availability.at(-1)?.online === true, 10_000);
    },
  );
});

/**
 * The camera is not trusted with where its credentials go, and neither is the gateway's own command
 * line. A "trap" on another LAN address (127.0.0.2) answers HTTP and RTSP with 401 challenges that
 * offer both Basic and Digest, and records whatever reaches it; a stub hub takes the pushes and
 * snapshots (real WebSocket and HTTP).
 */
describe('camera credentials go only to the camera, and never onto a command line', () => {
  const PASSWORD = 'trap-me-password-9';
  let trap: Trap;
  let hub: StubHub;
  const sims: CameraSimulator[] = [];
  const adapters: DeviceAdapter[] = [];
  beforeAll(async () => {
    trap = await startTrap('127.0.0.2');
    hub = await startStubHub();
  });
  afterAll(async () => {
    await trap.close();
    await hub.close();
  });
  afterEach(async () => {
    for (const a of adapters.splice(0)) await a.stop();
    for (const s of sims.splice(0)) await s.stop();
  });

  async function camera(options: Partial<ConstructorParameters<typeof CameraSimulator>[0]> = {}) {
    const sim = new CameraSimulator({
      credentials: { username: 'admin', password: PASSWORD },
      ptz: false,
      ...options,
    });
    await sim.start();
    sims.push(sim);
    const { seen, ctx } = recorder();
    const adapter = onvifCamera.create(cameraConfig(sim.xaddr, PASSWORD, { events: false }), {
      ...ctx,
      hub: hub.link,
    });
    adapters.push(adapter);
    adapter.start();
    await waitFor('online', () => seen.availability.some((a) => a.online), 10_000);
    return { sim, seen, adapter };
  }
  const act = (adapter: DeviceAdapter, name: string, params: Record<string, unknown>) =>
    (adapter.actions as Record<string, (p: Record<string, unknown>) => Promise<unknown>>)[name]?.(params);

  it('a lying camera names a foreign host for its media: refused with a reason, counted, and never contacted', async () => {
    const foreign = `127.0.0.2:${trap.port}`;
    const sim = new CameraSimulator({
      credentials: { username: 'admin', password: PASSWORD },
      ptz: false,
      foreignMedia: { rtsp: `rtsp://${foreign}`, http: `http://${foreign}` },
    });
    sim.misbehave = 'lying';
    await sim.start();
    sims.push(sim);
    const { seen, ctx } = recorder();
    const adapter = onvifCamera.create(cameraConfig(sim.xaddr, PASSWORD, { events: false }), {
      ...ctx,
      hub: hub.link,
    });
    adapters.push(adapter);
    adapter.start();
    await waitFor('online', () => seen.availability.some((a) => a.online), 10_000);
    const refusals = seen.events.filter((e) => e.type === 'media.refused');
    expect(refusals.map((e) => [e.data?.media, e.data?.reason, e.data?.host])).toEqual([
      ['main', 'foreign_host', '127.0.0.2'],
      ['sub', 'foreign_host', '127.0.0.2'],
      ['snapshot', 'foreign_host', '127.0.0.2'],
    ]);
    expect((adapter as unknown as { mediaRefused: Record<string, number> }).mediaRefused.foreign_host).toBe(
      3,
    );
    // No stream is offered, nor a command for one (nothing works: the reasons are the events above).
    expect(adapter.describe().streams).toBeUndefined();
    expect(adapter.describe().capabilities).not.toContain('snapshot');
    expect(Object.keys(adapter.actions ?? {})).not.toContain('stream.start');
    expect(Object.keys(adapter.actions ?? {})).not.toContain('camera.snapshot');
    // Asked anyway (an older hub), the video path still refuses with the reason.
    const video = (
      adapter as unknown as { video: { actions: Record<string, (p: object) => Promise<unknown>> } }
    ).video.actions;
    await expect(video['stream.start']?.({ session: 'lying-1', stream: 'main' })).rejects.toMatchObject({
      code: 'EDGE_ERR_MEDIA_REFUSED',
      message: expect.stringContaining('another host (127.0.0.2)'),
    });
    // The foreign host heard nothing at all: no Basic, no Digest response, no user:pass@.
    expect(trap.connections).toBe(0);
    expect(trap.received).not.toMatch(/authorization/i);
    expect(trap.received).not.toContain(PASSWORD);
  });

  it('Basic is never sent over plain HTTP: a Basic-only snapshot URI is refused and the frame comes from the stream', async () => {
    const { sim, adapter } = await camera({ snapshotAuth: 'basic' });
    const result = await act(adapter, 'camera.snapshot', { upload: 'basic-1' });
    expect(result).toMatchObject({ from: 'frame-grab' });
    expect(hub.snapshots.get('basic-1')?.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(sim.onvifServer?.snapshotAuthSeen).toEqual(['none']); // asked once, challenged, never answered
    expect(
      (adapter as unknown as { mediaRefused: Record<string, number> }).mediaRefused.basic_over_http,
    ).toBe(1);
  });

  it('an honest camera streams through the agent’s RTSP relay: no ffmpeg command line holds the password', async () => {
    const { sim, adapter } = await camera();
    await act(adapter, 'stream.start', { session: 'honest-1', stream: 'sub' });
    await waitFor('media at the hub', () => (hub.pushed.get('honest-1') ?? 0) > 10_000, 15_000);
    const pids = (adapter as unknown as { pushPids: number[] }).pushPids;
    expect(pids).toHaveLength(1);
    const everyFfmpeg = ffmpegCommandLines();
    expect(everyFfmpeg.length).toBeGreaterThan(0);
    for (const cmdline of everyFfmpeg) expect(cmdline).not.toContain(PASSWORD);
    const pusher = readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0');
    const url = pusher.find((a) => a.startsWith('rtsp://')) as string;
    expect(url).toMatch(/^rtsp:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{32}\/sub$/);
    // Another local process that read the URL from /proc finds its token spent.
    const relay = RtspAuthRelay.shared(pino({ level: 'silent' }));
    const before = relay.refused.bad_token;
    expect(await rtspStatus(url)).toBe(404);
    expect(relay.refused.bad_token).toBe(before + 1);
    expect(sim.rtspServer?.served.get('PLAY')).toBeGreaterThanOrEqual(1);
    await act(adapter, 'stream.stop', { session: 'honest-1' });
    expect((adapter as unknown as { pushPids: number[] }).pushPids).toEqual([]);
  });
});

describe('cameras as they are in the field', () => {
  const PASSWORD = 'field-password';
  const sims: CameraSimulator[] = [];
  const adapters: DeviceAdapter[] = [];
  let hub: StubHub;
  beforeAll(async () => {
    hub = await startStubHub();
  });
  afterAll(async () => hub.close());
  afterEach(async () => {
    for (const a of adapters.splice(0)) await a.stop();
    for (const s of sims.splice(0)) await s.stop();
  });

  async function camera(
    options: Partial<ConstructorParameters<typeof CameraSimulator>[0]> = {},
    misbehave: Misbehaviour = 'none',
  ) {
    const sim = new CameraSimulator({ credentials: { username: 'admin', password: PASSWORD }, ...options });
    sim.misbehave = misbehave;
    await sim.start();
    sims.push(sim);
    return sim;
  }
  function adapt(sim: CameraSimulator, extra: Record<string, unknown> = {}) {
    const { seen, ctx } = recorder();
    const adapter = onvifCamera.create(cameraConfig(sim.xaddr, PASSWORD, extra), { ...ctx, hub: hub.link });
    adapters.push(adapter);
    adapter.start();
    return { seen, adapter };
  }
  const online = (seen: ReturnType<typeof recorder>['seen']) =>
    waitFor('online', () => seen.availability.some((a) => a.online), 10_000);
  const act = (adapter: DeviceAdapter, name: string, params: Record<string, unknown> = {}) => {
    const handler = (adapter.actions as Record<string, (p: Record<string, unknown>) => Promise<unknown>>)[
      name
    ];
    if (!handler) throw new Error(`${name} is not offered`);
    return handler(params);
  };

  it('Media1 refuses GetStreamUri, Media2 answers: streams come through Media2', async () => {
    const sim = await camera({ ptz: false }, 'media1-no-uri');
    const { seen, adapter } = adapt(sim, { events: false });
    await online(seen);
    expect(adapter.describe().streams?.map((s) => s.name)).toEqual(['main', 'sub']);
    expect(adapter.describe().capabilities).toEqual(expect.arrayContaining(['video', 'snapshot']));
    // The snapshot URI too came from Media2 (Media1 refuses it in this mode): taken from the camera.
    expect(await act(adapter, 'camera.snapshot', { upload: 'media2-1' })).toMatchObject({
      from: 'snapshot-uri',
    });
    expect(hub.snapshots.get('media2-1')?.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('a camera without Media2 still streams through Media1', async () => {
    const sim = await camera({ ptz: false, media2: false });
    const { seen, adapter } = adapt(sim, { events: false });
    await online(seen);
    expect(adapter.describe().streams?.map((s) => s.name)).toEqual(['main', 'sub']);
  });

  it('a camera with a snapshot URI and no stream: snapshot offered and taken, no stream commands', async () => {
    const sim = await camera({ ptz: false }, 'no-stream');
    const { seen, adapter } = adapt(sim, { events: false });
    await online(seen);
    const d = adapter.describe();
    expect(d.streams).toBeUndefined();
    expect(d.capabilities).toContain('snapshot');
    expect(d.capabilities).not.toContain('video');
    expect(Object.keys(adapter.actions ?? {}).sort()).toEqual(['camera.snapshot']);
    expect(await act(adapter, 'camera.snapshot', { upload: 'nostream-1' })).toMatchObject({
      from: 'snapshot-uri',
    });
    expect(hub.snapshots.get('nostream-1')?.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('event capabilities follow the PullPoint subscription: absent while refused, back when it works, gone when it fails', async () => {
    const sim = await camera({ ptz: false }, 'no-events');
    const { seen, adapter } = adapt(sim);
    await online(seen);
    const events = () => adapter.describe().capabilities.filter((c) => c.startsWith('event.'));
    expect(events()).toEqual([]);
    const metaBefore = seen.meta;
    sim.misbehave = 'none';
    await waitFor('subscribed again', () => events().length > 0, 10_000);
    expect(events()).toEqual(['event.motion', 'event.tamper', 'event.line_crossing', 'event.intrusion']);
    expect(seen.meta).toBeGreaterThan(metaBefore);
    // The camera drops every subscription and refuses new ones: the capabilities go.
    sim.misbehave = 'no-events';
    sim.events.close();
    await waitFor('capabilities withdrawn', () => events().length === 0, 10_000);
    sim.misbehave = 'none';
    await waitFor('and back', () => events().length > 0, 15_000);
    sim.trigger('motion', true);
    await waitFor('a motion event', () => seen.events.some((e) => e.type === 'motion'), 10_000);
  });

  it('PTZ status in the head’s own units (tilt 2,949,120 = 45°): normalised with the advertised ranges', async () => {
    const sim = await camera({}, 'ptz-own-units');
    // Where the head points when the gateway connects (it reports the position then).
    (sim.ptz as NonNullable<typeof sim.ptz>).moveTo({ pan: 30, tilt: -20, zoom: 4.666 });
    const { seen } = adapt(sim, { events: false });
    await online(seen);
    const sample = await waitFor('position reported', () => seen.telemetry.find((t) => 'tilt' in t), 5000);
    // Reported 1,966,080 / -1,310,720 / 240,173 under the generic space's URI.
    expect(sample).toEqual({ pan: 30, tilt: -20, zoom: 4.7, ptz_out_of_range: 0 });
    expect(sim.onvifServer?.served.get('GetConfigurationOptions')).toBeGreaterThan(0);
  });

  it('an answer to another question: a code and a sentence, never a TypeError; a move is not taken for done', async () => {
    const sim = await camera();
    const { seen, adapter } = adapt(sim, { events: false });
    await online(seen);
    sim.misbehave = 'wrong-answer';
    const list = act(adapter, 'ptz.preset.list');
    await expect(list).rejects.toMatchObject({
      code: 'EDGE_ERR_CAMERA',
      message: expect.stringMatching(
        /^ONVIF_UNEXPECTED_ANSWER: the camera answered GetPresets with GetDeviceInformationResponse/,
      ),
    });
    await expect(list).rejects.not.toMatchObject({ message: expect.stringMatching(/TypeError|Cannot read/) });
    await expect(
      act(adapter, 'ptz.move', { pan: 1, tilt: 0, zoom: 0, durationMs: 200 }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/^ONVIF_UNEXPECTED_ANSWER: the camera answered ContinuousMove/),
    });
    // Connecting to it: the availability reason says what happened.
    const other = adapt(sim, { events: false });
    const off = await waitFor('refused', () => other.seen.availability.find((a) => !a.online), 10_000);
    expect(off.reason).toMatch(
      /^ONVIF_UNEXPECTED_ANSWER: the camera answered GetSystemDateAndTime with GetDeviceInformationResponse/,
    );
  });

  it('an HTTP 401 inside a SOAP fault at the clock sync: refused credentials, backing off 1 s, 2 s, 4 s', async () => {
    const sim = await camera({ ptz: false }, 'fault-401');
    const { seen } = adapt(sim, {
      events: false,
      reconnectMinMs: 200,
      reconnectMaxMs: 1000,
      credentialRetryMinMs: 1000,
      credentialRetryMaxMs: 4000,
    });
    const offline = () => seen.availability.filter((a) => !a.online);
    await waitFor('three refusals', () => offline().length >= 3, 10_000);
    expect(offline().map((a) => a.reason)).toEqual([
      expect.stringMatching(
        /^ONVIF_UNAUTHORIZED: the camera refused the credentials \(HTTP 401 to GetSystemDateAndTime\); next try in 1 s \(waits double up to 4 s/,
      ),
      expect.stringMatching(/; next try in 2 s/),
      expect.stringMatching(/; next try in 4 s/),
    ]);
    // Three tries in ~3 s, each the clock sync and its authenticated retry: not a retry every 200 ms.
    expect(sim.onvifServer?.served.get('fault-401')).toBeLessThanOrEqual(6);
  });

  it('a password file the gateway cannot read: a code and a sentence, and the camera is not contacted', async () => {
    const sim = await camera({ ptz: false });
    const { seen } = adapt(sim, { passwordFile: join(dir, 'no-such-file') });
    const off = await waitFor('reported', () => seen.availability.find((a) => !a.online), 5000);
    expect(off.reason).toBe('ONVIF_PASSWORD_FILE: the gateway cannot read this camera’s password file');
    expect(sim.onvifServer?.served.size).toBe(0);
  });

  it.each([
    ['NONE', 'V5.5.3 build 180822'],
    ['', '2.800.0000000.16.R'],
  ])('manufacturer %j is unknown; the firmware reaches the descriptor', async (manufacturer, firmware) => {
    const sim = await camera({ ptz: false, identity: { manufacturer, firmware } });
    const { seen, adapter } = adapt(sim, { events: false });
    await online(seen);
    const d = adapter.describe();
    expect(d.model).toBe('QLY-SIM-BULLET');
    expect(d.manufacturer).toBeUndefined();
    expect(d.firmware).toBe(firmware);
    expect(validatePayload('meta', { ...d, seq: 1, epoch: 'e1', ts: Date.now() }).ok).toBe(true);
  });
});

describe('PTZ positions: the advertised spaces (unit)', () => {
  const spaces = (pan: number, tilt: number, zoom: [number, number]) => ({
    panTilt: [
      { uri: GENERIC_PAN_TILT, x: [-pan, pan] as [number, number], y: [-tilt, tilt] as [number, number] },
    ],
    zoom: [{ uri: GENERIC_ZOOM, x: zoom }],
  });

  it('own units under the generic URI are rescaled; the recorded cameras’ generic spaces read as before', () => {
    const own = new PtzNormaliser(spaces(180 * 65_536, 90 * 65_536, [0, 19 * 65_536]));
    expect(own.normalise({ pan: 0, tilt: 2_949_120, zoom: 240_237, moving: {} })).toEqual({
      pan: 0,
      tilt: 45,
      zoom: 4.7,
      clamped: [],
      dropped: [],
    });
    // IPG-8150PSS advertises zoom -1…1 and reports 0 at wide angle: the generic space, 1×.
    const ipg = new PtzNormaliser(spaces(1, 1, [-1, 1]));
    expect(ipg.normalise({ pan: 0, tilt: 0, zoom: 0, moving: {} })).toMatchObject({ zoom: 1, clamped: [] });
  });

  it('outside its range: clamped and flagged; in a space nobody advertised and beyond the generic one: left out', () => {
    const n = new PtzNormaliser(spaces(1, 1, [0, 1]));
    expect(n.normalise({ pan: 1.2, tilt: -0.5, zoom: 0.5, moving: {} })).toEqual({
      pan: 180,
      tilt: -45,
      zoom: 10.5,
      clamped: ['pan'],
      dropped: [],
    });
    const none = new PtzNormaliser();
    expect(none.normalise({ pan: 0.5, tilt: 2_949_120, zoom: 240_237, moving: {} })).toEqual({
      pan: 90,
      clamped: [],
      dropped: ['tilt', 'zoom'],
    });
  });

  it.skipIf(!fixturesAvailable('onvif-easy-onvif'))(
    'the recorded cameras’ advertised spaces are read',
    () => {
      const enp = parsePtzSpaces(easy('ENP1A14-IR_25X', 'ptz/GetConfigurationOptionsResponse.xml'));
      expect(enp.panTilt).toEqual([{ uri: GENERIC_PAN_TILT, x: [-1, 1], y: [-1, 1] }]);
      expect(enp.zoom).toEqual([{ uri: GENERIC_ZOOM, x: [0, 1] }]);
      const ipg = parsePtzSpaces(easy('IPG-8150PSS', 'ptz/GetConfigurationOptionsResponse.xml'));
      expect(ipg.zoom).toEqual([{ uri: GENERIC_ZOOM, x: [-1, 1] }]);
    },
  );
});

describe.skipIf(!fixturesAvailable('onvif-easy-onvif'))('recorded cameras through Media2', () => {
  it('ENP1A14: bare Media2 profiles get Media1’s details; the unicast Media2 URI, not Media1’s multicast one; its firmware', async () => {
    const server = new ReplayOnvifServer(join(FIXTURES, 'onvif-easy-onvif/ENP1A14-IR_25X'));
    await server.start();
    const { seen, ctx } = recorder();
    const adapter = onvifCamera.create(
      cameraConfig(server.xaddr, 'anything', { events: false, rewriteMediaHost: true }),
      ctx,
    );
    try {
      adapter.start();
      await waitFor('connected', () => seen.availability.some((a) => a.online), 10_000);
      const uris = (adapter as unknown as { conn: { streamUris: Record<string, string> } }).conn.streamUris;
      expect(uris.main).toMatch(/\/Streaming\/Channels\/101\?transportmode=unicast&profile=Profile_1$/);
      expect(server.asked.filter((a) => a.action === 'GetStreamUri').map((a) => a.folder)).toEqual([
        'media2',
        'media2',
      ]);
      expect(server.asked.filter((a) => a.action === 'GetProfiles').map((a) => a.folder)).toEqual([
        'media2',
        'media1',
      ]);
      expect(adapter.describe()).toMatchObject({
        manufacturer: 'ONVIF',
        firmware: 'V5.5.3 build 180822',
        streams: [expect.objectContaining({ width: 2560 }), expect.objectContaining({ width: 704 })],
      });
    } finally {
      await adapter.stop();
      await server.stop();
    }
  });
});

interface Trap {
  port: number;
  connections: number;
  received: string;
  close(): Promise<void>;
}

/** Answers every HTTP or RTSP request with a 401 offering Basic and Digest, and records it all. */
async function startTrap(host: string): Promise<Trap> {
  const sockets = new Set<Socket>();
  const trap: Trap = { port: 0, connections: 0, received: '', close: async () => {} };
  const server = createNetServer((socket) => {
    trap.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      trap.received += text;
      const rtsp = / RTSP\/1\.0\r\n/.test(text);
      const cseq = /CSeq:\s*(\d+)/i.exec(text)?.[1] ?? '1';
      const challenge =
        'WWW-Authenticate: Basic realm="cam"\r\nWWW-Authenticate: Digest realm="cam", nonce="0123456789abcdef", qop="auth"\r\n';
      socket.write(
        rtsp
          ? `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\n${challenge}\r\n`
          : `HTTP/1.1 401 Unauthorized\r\n${challenge}Content-Length: 0\r\n\r\n`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  trap.port = (server.address() as { port: number }).port;
  trap.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return trap;
}

interface StubHub {
  link: HubLink;
  pushed: Map<string, number>;
  snapshots: Map<string, Buffer>;
  close(): Promise<void>;
}

/** The hub's two edge endpoints: the push WebSocket and the snapshot upload, recording what arrives. */
async function startStubHub(): Promise<StubHub> {
  const pushed = new Map<string, number>();
  const snapshots = new Map<string, Buffer>();
  const server = createHttpServer(async (req, res) => {
    const upload = /^\/api\/edge\/snapshots\/(.+)$/.exec(req.url ?? '')?.[1];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (upload) snapshots.set(upload, Buffer.concat(chunks));
    res.writeHead(upload ? 204 : 404).end();
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    const session = /^\/api\/edge\/streams\/(.+)$/.exec(req.url ?? '')?.[1] ?? '?';
    ws.on('message', (data: Buffer) => pushed.set(session, (pushed.get(session) ?? 0) + data.length));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    link: new HubLink(`http://127.0.0.1:${port}`, 'gw', 'gw-password'),
    pushed,
    snapshots,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The argument lists of every ffmpeg on this machine, as any local user can read them. */
function ffmpegCommandLines(): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (/(^|\/)ffmpeg\0/.test(cmdline)) lines.push(cmdline.replaceAll('\0', ' '));
    } catch {
      /* gone meanwhile */
    }
  }
  return lines;
}

/** The status of a DESCRIBE for `url`. */
async function rtspStatus(url: string): Promise<number> {
  const { hostname, port } = new URL(url);
  const socket = createConnection(Number(port), hostname);
  socket.write(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 1\r\n\r\n`);
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('\r\n\r\n')) resolve(text);
    });
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
  socket.destroy();
  return Number(/^RTSP\/1\.0 (\d{3})/.exec(answer)?.[1] ?? 0);
}
