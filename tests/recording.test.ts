/**
 * Continuous recording on the gateway, through real parts: the ONVIF camera simulator (its RTSP
 * with a burnt-in clock, Digest credentials through the agent's RTSP relay), the real edge agent
 * process with real ffmpeg segmenting `-c copy`, the hub with its embedded broker.
 *  - a minute recorded: complete MPEG-TS segments named by start time, contiguous, each ffprobe-valid
 *    with the duration its name says; the heartbeat reports free disk and the camera recording;
 *  - past the ring buffer's cap: the oldest deleted and counted, the newest intact;
 *  - SIGKILL while recording: at most the segment being written is lost, the directory (the index)
 *    holds only complete segments, the orphaned ffmpeg is gone, recording resumes;
 *  - the camera's recorder stalls (camera gone): `recording_stopped` alarm, cleared when it records.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { descendants, ffmpegs, processes } from './support/processes.ts';
import { FFPROBE, firstFrameTime, probe, type SegmentFile, segmentFiles } from './support/recording.ts';
import { systemBinary } from './support/system.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GW = 'gw-rec';
const CAM = 'cam-gate';
const CAM_USER = 'admin';
const CAM_PASSWORD = 'cam-secret-rec';
const SEGMENT_S = 2;
/** Ring buffer cap per camera: about 20 s of the simulator's sub-stream. */
const CAP_BYTES = 500_000;

const haveFfmpeg = systemBinary('/usr/bin/ffmpeg', 'ffmpeg') && systemBinary(FFPROBE, 'ffmpeg');

describe.skipIf(!haveFfmpeg)('recording on the gateway', () => {
  let hub: TestHub;
  let camera: CameraSimulator;
  let edge: EdgeProcess;
  let password: string;
  const dir = mkdtempSync(join(tmpdir(), 'qly-rec-'));
  const recordings = join(dir, 'recordings');
  const segments = () => segmentFiles(recordings, CAM);

  const edgeConfig = () => ({
    gateway: { id: GW, site: SITE },
    mqtt: { url: hub.brokerUrl },
    heartbeatMs: 1000,
    video: { hubUrl: hub.baseUrl },
    recording: {
      enabled: true,
      path: recordings,
      stream: 'sub',
      segmentSeconds: SEGMENT_S,
      maxBytesPerCamera: CAP_BYTES,
      stallSeconds: 6,
      indexIntervalMs: 2000,
    },
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
  });

  beforeAll(async () => {
    camera = new CameraSimulator({ credentials: { username: CAM_USER, password: CAM_PASSWORD }, fps: 10 });
    await camera.start();
    writeFileSync(join(dir, 'cam.pw'), CAM_PASSWORD);
    hub = await startTestHub();
    password = await hub.provisionGateway(GW, SITE);
    edge = new EdgeProcess(edgeConfig(), password);
    edge.start();
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    await hub?.close();
    await camera?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const gatewayRecording = () => hub.app.registry.listGateways().find((g) => g.id === GW)?.recording;

  /** Each held segment plays and lasts what its name says; consecutive segments touch. */
  function checkContiguous(list: SegmentFile[]): void {
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1] as SegmentFile;
      const next = list[i] as SegmentFile;
      expect(Math.abs(next.start - (prev.start + prev.durationMs))).toBeLessThan(300);
    }
  }

  it('records a minute: complete segments named by start time, contiguous, each one valid', async () => {
    const started = Date.now();
    await waitFor('the first segment', () => segments().length >= 1, 30_000, 200);
    await waitFor('a minute of recording', () => Date.now() - started >= 60_000, 70_000, 1000);
    const list = segments();
    const deleted = gatewayRecording()?.cameras[0]?.deleted ?? 0;
    // A minute at 2 s a segment: about 30, held or deleted by the ring buffer.
    expect(list.length + deleted).toBeGreaterThanOrEqual(25);
    for (const s of list) {
      expect(s.durationMs).toBeGreaterThan(SEGMENT_S * 1000 - 200);
      expect(s.durationMs).toBeLessThan(SEGMENT_S * 1000 + 1200);
    }
    checkContiguous(list);
    // The newest segment ended moments ago, by the gateway's clock.
    const newest = list.at(-1) as SegmentFile;
    expect(Date.now() - (newest.start + newest.durationMs)).toBeLessThan(SEGMENT_S * 1000 + 3000);
    for (const s of [list[0], newest] as SegmentFile[]) {
      const p = probe(join(recordings, CAM, s.name));
      expect(p.format).toBe('mpegts');
      expect(p.codec).toBe('h264');
      expect(Math.abs(p.duration * 1000 - s.durationMs)).toBeLessThan(400);
      // Named by start time: the camera's burnt-in clock on its first frame says the same (±1 s).
      const burnt = firstFrameTime(join(recordings, CAM, s.name), s.start);
      expect(burnt).toBeDefined();
      expect(Math.abs((burnt as number) - s.start)).toBeLessThan(1000);
    }
    // Nothing half-written among the complete ones; the partial directory holds at most one.
    expect(
      readdirSync(join(recordings, CAM, 'partial')).filter((n) => n.endsWith('.ts')).length,
    ).toBeLessThanOrEqual(1);
    // The camera's password never reaches a command line: ffmpeg reads the agent's relay.
    const recorder = ffmpegs(descendants(edge.pid as number));
    expect(recorder).toHaveLength(1);
    expect(recorder[0]?.cmdline).toMatch(/rtsp:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{32}\/sub/);
    for (const p of ffmpegs(processes())) expect(p.cmdline).not.toContain(CAM_PASSWORD);
    // The heartbeat: free disk, the camera recording, its bytes.
    const health = await waitFor('the heartbeat with recording', () => gatewayRecording(), 5000);
    expect(health.freeBytes).toBeGreaterThan(0);
    expect(health.cameras).toEqual([
      expect.objectContaining({ device: CAM, stream: 'sub', state: 'recording', bytes: expect.any(Number) }),
    ]);
    // The hub's index (the retained topic, stored in the state store) says what the directory holds.
    const admin = await hub.token();
    const index = await waitFor(
      'the hub index matching the directory',
      async () => {
        const res = await fetch(`${hub.baseUrl}/api/cameras/${GW}.${CAM}/recordings`, {
          headers: { authorization: `Bearer ${admin}` },
        });
        const body = (await res.json()) as {
          ranges: Array<[number, number]>;
          segments: number;
          state: string;
          stream: string;
          gaps: unknown[];
        };
        const now = segments();
        const last = now.at(-1) as SegmentFile;
        return body.segments === now.length && body.ranges.at(-1)?.[1] === last.start + last.durationMs
          ? { body, now }
          : undefined;
      },
      10_000,
      250,
    );
    expect(index.body).toMatchObject({ stream: 'sub', state: 'recording', gaps: [] });
    expect(index.body.ranges).toEqual([
      [
        (index.now[0] as SegmentFile).start,
        (index.now.at(-1) as SegmentFile).start + (index.now.at(-1) as SegmentFile).durationMs,
      ],
    ]);
  }, 120_000);

  it('the index is scoped like live video: another village’s operator cannot list it', async () => {
    const admin = await hub.token();
    const created = await fetch(`${hub.baseUrl}/api/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        username: 'op-dongshan',
        password: 'a-long-password',
        role: 'village_operator',
        sites: ['dongshan'],
      }),
    });
    expect(created.status).toBe(201);
    const other = await hub.token('op-dongshan', 'a-long-password');
    const res = await fetch(`${hub.baseUrl}/api/cameras/${GW}.${CAM}/recordings`, {
      headers: { authorization: `Bearer ${other}` },
    });
    expect(res.status).toBe(403);
    const anonymous = await fetch(`${hub.baseUrl}/api/cameras/${GW}.${CAM}/recordings`);
    expect(anonymous.status).toBe(401);
  });

  it('past the cap the oldest segments are deleted and counted; the newest stay intact', async () => {
    await waitFor(
      'the ring buffer deleting',
      () => (gatewayRecording()?.cameras[0]?.deleted ?? 0) >= 2,
      60_000,
      500,
    );
    const list = segments();
    const held = list.reduce((n, s) => n + s.bytes, 0);
    expect(held).toBeLessThanOrEqual(CAP_BYTES);
    // What is left is the newest: one range ending now, starting after the recording began.
    checkContiguous(list);
    const newest = list.at(-1) as SegmentFile;
    expect(Date.now() - (newest.start + newest.durationMs)).toBeLessThan(SEGMENT_S * 1000 + 3000);
    expect(probe(join(recordings, CAM, newest.name)).codec).toBe('h264');
    const camera = gatewayRecording()?.cameras[0];
    expect(camera?.bytes).toBeLessThanOrEqual(CAP_BYTES);
    expect(camera?.deleted).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it('SIGKILL while recording: at most the segment being written is lost; recording resumes', async () => {
    await waitFor('a segment just completed', () => segments().length > 2, 10_000, 100);
    await sleep(500);
    const before = segments();
    const orphan = ffmpegs(descendants(edge.pid as number))[0];
    expect(orphan).toBeDefined();
    await edge.stop('SIGKILL');
    const killedAt = Date.now();
    // A power cut: the gateway comes back a few seconds later, on the same disk.
    await sleep(3000);
    edge = new EdgeProcess(edgeConfig(), password);
    edge.start();
    await waitFor(
      'recording again after the restart',
      () => segments().some((s) => s.start > killedAt),
      40_000,
      200,
    );
    const after = segments();
    // Every complete segment before the kill is still there (the ring buffer may have aged out the oldest).
    const names = new Set(after.map((s) => s.name));
    const newestBefore = before.at(-1) as SegmentFile;
    expect(names.has(newestBefore.name)).toBe(true);
    for (const s of before.filter((b) => b.start >= (after[0] as SegmentFile).start))
      expect(names.has(s.name)).toBe(true);
    // Between the last segment before the kill and the first after, the gap is the outage plus at
    // most the one segment being written.
    const firstAfter = after.find((s) => s.start > newestBefore.start) as SegmentFile;
    const gapMs = firstAfter.start - (newestBefore.start + newestBefore.durationMs);
    expect(gapMs).toBeLessThan(SEGMENT_S * 1000 + 1500 + (firstAfter.start - killedAt));
    expect(killedAt - (newestBefore.start + newestBefore.durationMs)).toBeLessThan(SEGMENT_S * 1000 + 1500);
    // The orphaned ffmpeg is gone and only the new agent's one records.
    expect(processes().some((p) => p.pid === orphan?.pid && p.name === 'ffmpeg')).toBe(false);
    expect(ffmpegs(descendants(edge.pid as number))).toHaveLength(1);
    // Every file in the directory is a complete, playable segment.
    for (const s of after.slice(-3)) expect(probe(join(recordings, CAM, s.name)).frames).toBeGreaterThan(0);
  }, 90_000);

  it('a camera that stops sending: recording_stopped alarm, cleared when it records again', async () => {
    camera.stopVideo();
    const alarm = await waitFor(
      'the recording_stopped alarm',
      () =>
        hub.app.alarms
          .list({ device: `${GW}.${CAM}`, type: 'recording_stopped', limit: 50 })
          .find((a) => a.clearedAt === null),
      40_000,
      250,
    );
    expect(alarm.severity).toBe('alarm');
    const stopped = await waitFor(
      'the heartbeat saying stopped',
      () =>
        gatewayRecording()?.cameras[0]?.state === 'stopped' ? gatewayRecording()?.cameras[0] : undefined,
      10_000,
    );
    expect(stopped.reason).toMatch(/^RECORDING_/);
    camera.resumeVideo();
    await waitFor(
      'the alarm cleared when recording resumes',
      () =>
        hub.app.alarms
          .list({ device: `${GW}.${CAM}`, type: 'recording_stopped', limit: 50 })
          .find((a) => a.id === alarm.id)?.clearedAt,
      60_000,
      250,
    );
    await waitFor(
      'the heartbeat saying recording',
      () => gatewayRecording()?.cameras[0]?.state === 'recording',
      10_000,
    );
  }, 120_000);
});
