/**
 * Evidence on incidents, through real parts: the ONVIF camera simulator (burnt-in clock, ONVIF
 * intrusion events), the real edge agent recording with real ffmpeg, its MQTT and HTTP uplinks each
 * through a TCP proxy that can be cut, the hub with its embedded broker.
 *  - an intrusion alarm pulls its clip: stored by SHA-256 on the hub, on the incident opened from
 *    the alarm; downloaded with a one-use token, a standard MP4 that ffprobe reads with the expected
 *    duration, whose first frame's burnt-in time is the clip's start, and whose hash is the one in
 *    the audit log (stored and downloaded);
 *  - tokens: used, forged, expired refused; another village's operator cannot list, play or download;
 *  - uplink cut: an intrusion during the cut; after the link returns the alarm arrives and its clip
 *    follows, covering the event, and no telemetry was lost.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlarmView, EvidenceView } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { FFPROBE, firstFrameTime, segmentFiles } from './support/recording.ts';
import { systemBinary } from './support/system.ts';
import { TcpProxy } from './support/tcp-proxy.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GW = 'gw-evidence';
const CAM = 'cam-gate';
const KEY = `${GW}.${CAM}`;
const CAM_USER = 'admin';
const CAM_PASSWORD = 'cam-secret-ev';
const BEFORE_MS = 6000;
const AFTER_MS = 6000;
const TOKEN_TTL_MS = 3000;

const haveFfmpeg = systemBinary('/usr/bin/ffmpeg', 'ffmpeg') && systemBinary(FFPROBE, 'ffmpeg');

describe.skipIf(!haveFfmpeg)('evidence clips on alarms and incidents', () => {
  let hub: TestHub;
  let camera: CameraSimulator;
  let edge: EdgeProcess;
  let mqttLink: TcpProxy;
  let httpLink: TcpProxy;
  let admin: string;
  let stranger: string;
  const dir = mkdtempSync(join(tmpdir(), 'qly-evidence-'));
  const recordings = join(dir, 'recordings');

  const api = async (token: string | undefined, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${hub.baseUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  };

  beforeAll(async () => {
    camera = new CameraSimulator({ credentials: { username: CAM_USER, password: CAM_PASSWORD }, fps: 10 });
    await camera.start();
    writeFileSync(join(dir, 'cam.pw'), CAM_PASSWORD);
    hub = await startTestHub({
      config: {
        recording: {
          clipBeforeMs: BEFORE_MS,
          clipAfterMs: AFTER_MS,
          retryMs: 2000,
          tokenTtlMs: TOKEN_TTL_MS,
        },
      },
    });
    const password = await hub.provisionGateway(GW, SITE);
    mqttLink = new TcpProxy('127.0.0.1', Number(new URL(hub.brokerUrl).port));
    httpLink = new TcpProxy('127.0.0.1', Number(new URL(hub.baseUrl).port));
    await mqttLink.start();
    await httpLink.start();
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: `mqtt://127.0.0.1:${mqttLink.port}`, keepaliveS: 5 },
        heartbeatMs: 1000,
        video: { hubUrl: `http://127.0.0.1:${httpLink.port}` },
        recording: { enabled: true, path: recordings, segmentSeconds: 2, indexIntervalMs: 2000 },
        devices: [
          {
            type: 'onvif-camera',
            id: CAM,
            name: 'Gate',
            position: { lat: 30.04, lon: 119.95 },
            xaddr: camera.xaddr,
            username: CAM_USER,
            passwordFile: join(dir, 'cam.pw'),
          },
        ],
      },
      password,
    );
    edge.start();
    admin = await hub.token();
    const created = await api(admin, 'POST', '/api/users', {
      username: 'op-xihe',
      password: 'a-long-password',
      role: 'village_operator',
      sites: ['xihe'],
    });
    expect(created.status).toBe(201);
    stranger = await hub.token('op-xihe', 'a-long-password');
    // Recording for a while, and the camera's events working, before any alarm.
    await waitFor(
      'the camera online with events',
      () => hub.app.registry.getDevice(KEY)?.capabilities.includes('event.intrusion'),
      30_000,
    );
    await waitFor('ten seconds recorded', () => segmentFiles(recordings, CAM).length >= 5, 40_000, 250);
  }, 90_000);

  afterAll(async () => {
    await edge?.stop();
    await hub?.close();
    await mqttLink?.stop();
    await httpLink?.stop();
    await camera?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const intrusionAlarms = (): AlarmView[] =>
    hub.app.alarms.list({ device: KEY, type: 'intrusion', limit: 50 });

  async function storedClipOf(alarm: AlarmView, timeoutMs = 60_000): Promise<EvidenceView> {
    return waitFor(
      `the clip of alarm ${alarm.id} stored on the hub`,
      () => hub.app.evidence.ofAlarm(alarm.id).find((e) => e.state === 'stored'),
      timeoutMs,
      250,
    );
  }

  let firstClip: EvidenceView;
  let incidentId: number;

  it('an intrusion alarm pulls its clip; the incident carries it; the MP4 is valid and its hash audited', async () => {
    const before = intrusionAlarms().length;
    camera.trigger('intrusion', true);
    const alarm = await waitFor(
      'the intrusion alarm',
      () => (intrusionAlarms().length > before ? intrusionAlarms()[0] : undefined),
      20_000,
    );
    camera.trigger('intrusion', false);
    // An incident opened from the alarm by the duty officer.
    const incident = await api(admin, 'POST', '/api/incidents', {
      title: 'Intrusion at the gate',
      category: 'security',
      alarm: alarm.id,
    });
    expect(incident.status).toBe(201);
    incidentId = (incident.body as { id: number }).id;
    firstClip = await storedClipOf(alarm);
    expect(firstClip).toMatchObject({
      device: KEY,
      site: SITE,
      from: alarm.ts - BEFORE_MS,
      to: alarm.ts + AFTER_MS,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const listed = await api(admin, 'GET', `/api/incidents/${incidentId}/evidence`);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual([
      expect.objectContaining({ id: firstClip.id, state: 'stored', incident: incidentId }),
    ]);

    const token = await api(admin, 'POST', `/api/evidence/${firstClip.id}/token`);
    expect(token.status).toBe(200);
    const { path } = token.body as { path: string };
    const res = await fetch(`${hub.baseUrl}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    const mp4 = Buffer.from(await res.arrayBuffer());
    const file = join(dir, 'download.mp4');
    writeFileSync(file, mp4);
    const sha256 = createHash('sha256').update(mp4).digest('hex');
    expect(sha256).toBe(firstClip.sha256);
    expect(res.headers.get('x-content-sha256')).toBe(sha256);
    // A standard MP4: ffprobe reads it, H.264, the expected duration (it may start up to one GOP, 1 s, early).
    const probe = JSON.parse(
      execFileSync(
        FFPROBE,
        [
          '-v',
          'error',
          '-show_entries',
          'format=format_name,duration:stream=codec_name',
          '-of',
          'json',
          file,
        ],
        { encoding: 'utf8' },
      ),
    ) as { format: { format_name: string; duration: string }; streams: Array<{ codec_name: string }> };
    expect(probe.format.format_name).toContain('mp4');
    expect(probe.streams[0]?.codec_name).toBe('h264');
    const expectedS = (BEFORE_MS + AFTER_MS) / 1000;
    expect(Number(probe.format.duration)).toBeGreaterThan(expectedS - 1);
    expect(Number(probe.format.duration)).toBeLessThan(expectedS + 1.5);
    // The first frame is what the camera saw at the clip's start (its burnt-in clock, ±1.5 s).
    const burnt = firstFrameTime(file, firstClip.from);
    expect(burnt).toBeDefined();
    expect(Math.abs((burnt as number) - firstClip.from)).toBeLessThan(1500);
    // The audit log holds the same hash, when stored and when downloaded.
    const audit = await api(admin, 'GET', '/api/audit?limit=200');
    expect(audit.status).toBe(200);
    const ofClip = (audit.body as Array<{ action: string; detail: { sha256?: string } }>).filter((e) =>
      e.action.startsWith('evidence.'),
    );
    expect(ofClip.find((e) => e.action === 'evidence.stored')?.detail.sha256).toBe(sha256);
    expect(ofClip.find((e) => e.action === 'evidence.download')?.detail.sha256).toBe(sha256);
  }, 120_000);

  it('tokens are one-use and short-lived; forged ones are refused', async () => {
    const issued = (await api(admin, 'POST', `/api/evidence/${firstClip.id}/token`)).body as {
      path: string;
      token: string;
    };
    expect((await fetch(`${hub.baseUrl}${issued.path}`)).status).toBe(200);
    expect((await fetch(`${hub.baseUrl}${issued.path}`)).status).toBe(401);
    expect((await fetch(`${hub.baseUrl}/api/evidence/file?token=${'A'.repeat(43)}`)).status).toBe(401);
    expect((await fetch(`${hub.baseUrl}/api/evidence/file`)).status).toBe(401);
    const late = (await api(admin, 'POST', `/api/evidence/${firstClip.id}/token`)).body as { path: string };
    await sleep(TOKEN_TTL_MS + 500);
    expect((await fetch(`${hub.baseUrl}${late.path}`)).status).toBe(401);
    expect(hub.app.evidence.refused).toMatchObject({
      used_token: expect.any(Number),
      bad_token: expect.any(Number),
      expired_token: expect.any(Number),
    });
  });

  it('another village’s operator cannot list, play or download the clip', async () => {
    expect(
      (await api(stranger, 'GET', `/api/incidents/${incidentId}/evidence`)).status,
    ).toBeGreaterThanOrEqual(403);
    expect((await api(stranger, 'GET', `/api/evidence/${firstClip.id}`)).status).toBe(404);
    expect((await api(stranger, 'POST', `/api/evidence/${firstClip.id}/token`)).status).toBe(404);
    expect((await api(stranger, 'GET', `/api/cameras/${KEY}/recordings`)).status).toBe(403);
    expect((await api(undefined, 'POST', `/api/evidence/${firstClip.id}/token`)).status).toBe(401);
    // A gateway cannot upload for a clip nobody asked for, nor without its credential.
    const put = await fetch(`${hub.baseUrl}/api/edge/recordings/${'x'.repeat(32)}`, {
      method: 'PUT',
      headers: { 'content-type': 'video/mp4' },
      body: Buffer.from('nothing'),
    });
    expect(put.status).toBe(401);
  });

  it('uplink cut: a line crossing during the cut gets its clip after the link returns; no telemetry lost', async () => {
    const lineAlarms = (): AlarmView[] =>
      hub.app.alarms.list({ device: KEY, type: 'line_crossing', limit: 50 });
    const before = lineAlarms().length;
    const gapsBefore = await hub.metric('qly_ingest_seq_gaps_total');
    mqttLink.cut();
    httpLink.cut();
    await sleep(3000);
    const eventAt = Date.now();
    camera.trigger('line');
    // The gateway keeps recording meanwhile; the alarm cannot reach the hub.
    await sleep(AFTER_MS + 12_000);
    expect(lineAlarms().length).toBe(before);
    expect(segmentFiles(recordings, CAM).some((s) => s.start > eventAt + AFTER_MS)).toBe(true);
    mqttLink.restore();
    httpLink.restore();
    const alarm = await waitFor(
      'the line-crossing alarm after reconnection',
      () => (lineAlarms().length > before ? lineAlarms()[0] : undefined),
      30_000,
    );
    // The alarm carries the camera's time of the event, not the time it reached the hub.
    expect(Math.abs(alarm.ts - eventAt)).toBeLessThan(3000);
    const clip = await storedClipOf(alarm, 60_000);
    expect(clip.from).toBeLessThanOrEqual(eventAt);
    expect(clip.to).toBeGreaterThanOrEqual(eventAt + AFTER_MS - 3000);
    expect(clip.durationMs).toBeGreaterThan(BEFORE_MS + AFTER_MS - 1000);
    expect(await hub.metric('qly_ingest_seq_gaps_total')).toBe(gapsBefore);
  }, 120_000);
});
