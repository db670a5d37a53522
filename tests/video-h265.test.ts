/**
 * H.265 cameras through real parts: a camera simulator encoding H.265 (x265, RTP per RFC 7798,
 * ONVIF saying H265), the real edge agent pushing its streams untouched (`-c copy`), the hub's relay
 * and viewers on its video socket.
 *  - a viewer whose browser plays H.265 gets the camera's own stream (an `hev1`/`hvc1` codec);
 *  - a viewer whose browser does not (Chromium without a hardware decoder) gets an H.264 transcode
 *    made for it, told so in the init message;
 *  - transcoders are bounded (`video.maxTranscodes`): a viewer refused one is told why, the refusal
 *    is counted, and it gets its picture once a slot frees.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { EdgeProcess } from './support/edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { systemBinary } from './support/system.ts';
import { openViewer, type Viewer } from './support/video-viewer.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GW = 'gw-hevc';
const CAM = `${GW}.cam-hevc`;
const CAM_USER = 'admin';
const CAM_PASSWORD = 'cam-secret-1';

describe.skipIf(!systemBinary('/usr/bin/ffmpeg', 'ffmpeg'))('H.265 cameras', () => {
  let hub: TestHub;
  let cam: CameraSimulator;
  let edge: EdgeProcess;
  const viewers: Viewer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'qly-hevc-'));

  beforeAll(async () => {
    // Both profiles H.265, like the recorded ENP1A14 (Hikvision OEM) camera.
    cam = new CameraSimulator({
      credentials: { username: CAM_USER, password: CAM_PASSWORD },
      main: { width: 640, height: 360, kbps: 500, codec: 'h265' },
      sub: { width: 320, height: 180, kbps: 200, codec: 'h265' },
    });
    await cam.start();
    // One transcoder in the whole hub: main and sub both need one.
    hub = await startTestHub({
      config: { video: { idleStopMs: 1000, startTimeoutMs: 15_000, maxTranscodes: 1 } },
    });
    const password = await hub.provisionGateway(GW, SITE);
    writeFileSync(join(dir, 'cam.pw'), CAM_PASSWORD);
    edge = new EdgeProcess(
      {
        gateway: { id: GW, site: SITE },
        mqtt: { url: hub.brokerUrl },
        video: { hubUrl: hub.baseUrl },
        devices: [
          {
            type: 'onvif-camera',
            id: 'cam-hevc',
            name: 'cam-hevc',
            position: { lat: 30.04, lon: 119.95 },
            xaddr: cam.xaddr,
            username: CAM_USER,
            passwordFile: join(dir, 'cam.pw'),
          },
        ],
      },
      password,
    );
    edge.start();
    await waitFor(
      'the camera online with video',
      () => !!hub.app.registry.getDevice(CAM)?.capabilities.includes('cmd.stream.start'),
      30_000,
    );
  }, 90_000);

  afterAll(async () => {
    for (const v of viewers) v.close();
    await edge?.stop();
    await hub?.close();
    await cam?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const watch = async (stream: 'main' | 'sub', hevc: boolean) => {
    const v = await openViewer(hub, CAM, stream, 'mse', hevc);
    viewers.push(v);
    return v;
  };

  it('the descriptor says H.265; a browser that plays it gets the stream untouched', async () => {
    const streams = hub.app.registry.getDevice(CAM)?.streams ?? [];
    expect(streams.map((s) => [s.name, s.codec])).toEqual([
      ['main', 'h265'],
      ['sub', 'h265'],
    ]);
    const v = await watch('main', true);
    await waitFor('H.265 keyframes', () => v.keyframes >= 2, 30_000);
    expect(v.mime).toMatch(/^video\/mp4; codecs="(hev1|hvc1)\.1\.6\.L\d+\.[0-9A-F.]+"$/);
    expect(v.transcoded).toBeUndefined();
    v.close();
  }, 60_000);

  it('a browser without H.265 gets an H.264 transcode, and it is told so', async () => {
    const v = await watch('main', false);
    await waitFor('H.264 keyframes from the transcoder', () => v.keyframes >= 2, 30_000);
    expect(v.mime).toMatch(/^video\/mp4; codecs="avc1\.[0-9A-F]{6}"$/);
    expect(v.transcoded).toBe('h265');
    expect(await hub.metric('qly_video_transcodes')).toBe(1);
  }, 60_000);

  it('past video.maxTranscodes a viewer is refused with the reason, counted, and served once a slot frees', async () => {
    const before = await hub.metric('qly_video_refused_total', { reason: 'transcode_limit' });
    const waiting = await watch('sub', false);
    await waitFor(
      'refused for want of a transcoder',
      () => waiting.reasons.includes('transcode_limit'),
      30_000,
    );
    expect(waiting.fragments).toBe(0);
    expect(await hub.metric('qly_video_refused_total', { reason: 'transcode_limit' })).toBeGreaterThan(
      before || 0,
    );
    // The main stream's viewer leaves: its transcoder stops and the sub stream's viewer gets one.
    for (const v of viewers.slice(0, -1)) v.close();
    await waitFor('the waiting viewer plays', () => waiting.keyframes >= 1, 40_000);
    expect(waiting.transcoded).toBe('h265');
    expect(waiting.mime).toMatch(/avc1/);
  }, 90_000);
});
