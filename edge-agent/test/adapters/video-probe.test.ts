/**
 * The picture probe (video-probe.ts): its parsers on their own, and the probe against the camera
 * simulator's RTSP server (Digest, like a camera) — frames flowing, only the video stopped while
 * ONVIF and RTSP still answer, resumed, wrong password, the server gone — and against a small
 * server that offers only Basic (never answered) or names a track on another host (never contacted).
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../../src/adapters/onvif-camera/simulator/index.ts';
import {
  isRtpFrame,
  parseRtspHead,
  probeVideo,
  sameCamera,
  videoControlUrl,
} from '../../src/adapters/onvif-camera/video-probe.ts';

const OPTS = { windowMs: 1500, timeoutMs: 2000 };

describe('video probe parsers', () => {
  it('reads a status line and headers, keeping the Digest offer among several', () => {
    const head = parseRtspHead(
      'RTSP/1.0 401 Unauthorized\r\nCSeq: 3\r\nWWW-Authenticate: Digest realm="cam", nonce="n1"\r\nWWW-Authenticate: Basic realm="cam"',
    );
    expect(head?.status).toBe(401);
    expect(head?.headers.get('cseq')).toBe('3');
    expect(head?.headers.get('www-authenticate')).toBe('Digest realm="cam", nonce="n1"');
    expect(parseRtspHead('HTTP/1.1 200 OK\r\nContent-Length: 0')).toBeUndefined();
    expect(parseRtspHead('garbage')).toBeUndefined();
  });

  it('resolves the first video track’s control URL', () => {
    const sdp = (control: string) =>
      [
        'v=0',
        'a=control:*',
        'm=audio 0 RTP/AVP 8',
        'a=control:audio',
        'm=video 0 RTP/AVP 96',
        control,
        '',
      ].join('\r\n');
    const base = 'rtsp://10.0.0.5:554/Streaming/102/';
    expect(videoControlUrl(sdp('a=control:trackID=1'), base)).toBe(`${base}trackID=1`);
    expect(videoControlUrl(sdp('a=control:trackID=1'), base.slice(0, -1))).toBe(`${base}trackID=1`);
    expect(videoControlUrl(sdp('a=control:*'), base)).toBe(base);
    expect(videoControlUrl(sdp(''), base)).toBe(base);
    expect(videoControlUrl(sdp('a=control:rtsp://10.0.0.5/x/track2'), base)).toBe('rtsp://10.0.0.5/x/track2');
    expect(videoControlUrl('v=0\r\nm=audio 0 RTP/AVP 8\r\na=control:a\r\n', base)).toBeUndefined();
  });

  it('accepts only the camera’s own host and port, never userinfo', () => {
    const camera = new URL('rtsp://10.0.0.5/Streaming/102');
    expect(sameCamera('rtsp://10.0.0.5:554/Streaming/102/trackID=1', camera)).toBe(true);
    expect(sameCamera('rtsp://10.0.0.6/Streaming/102', camera)).toBe(false);
    expect(sameCamera('rtsp://10.0.0.5:8554/Streaming/102', camera)).toBe(false);
    expect(sameCamera('rtsp://u:p@10.0.0.5/Streaming/102', camera)).toBe(false);
    expect(sameCamera('http://10.0.0.5/x', camera)).toBe(false);
    expect(sameCamera('not a url', camera)).toBe(false);
  });

  it('tells an RTP frame on the video channel from RTCP and noise', () => {
    const rtp = Buffer.alloc(16);
    rtp[0] = 0x24;
    rtp[1] = 0;
    rtp.writeUInt16BE(12, 2);
    rtp[4] = 0x80;
    expect(isRtpFrame(rtp, 0)).toBe(true);
    expect(isRtpFrame(rtp, 2)).toBe(false);
    const bad = Buffer.from(rtp);
    bad[4] = 0x40;
    expect(isRtpFrame(bad, 0)).toBe(false);
    expect(isRtpFrame(rtp.subarray(0, 8), 0)).toBe(false);
  });
});

describe('video probe against the camera simulator', () => {
  const password = 'probe-pw-1';
  const camera = new CameraSimulator({ credentials: { username: 'admin', password }, ptz: false, fps: 5 });
  beforeAll(() => camera.start(), 30_000);
  afterAll(() => camera.stop());

  it('sees frames; with only the video stopped (ONVIF and RTSP answering) it reports no frames; resumed, frames again', async () => {
    const target = { url: camera.streamUrl('sub'), username: 'admin', password };
    const ok = await probeVideo(target, OPTS);
    expect(ok).toMatchObject({ ok: true });
    expect(ok.ok && ok.firstFrameMs).toBeLessThan(OPTS.windowMs);

    camera.stopVideo();
    const playsBefore = camera.rtspServer?.served.get('PLAY') ?? 0;
    const started = Date.now();
    const lost = await probeVideo(target, OPTS);
    expect(lost).toMatchObject({ ok: false, failure: 'no_frames' });
    // It waited the whole window after a PLAY the server accepted: the RTSP server still answers.
    expect(Date.now() - started).toBeGreaterThanOrEqual(OPTS.windowMs - 50);
    expect(camera.rtspServer?.served.get('PLAY')).toBe(playsBefore + 1);

    camera.resumeVideo();
    expect(await probeVideo(target, OPTS)).toMatchObject({ ok: true });
  }, 30_000);

  it('a wrong password is unauthorized (Digest answered once, not retried)', async () => {
    const result = await probeVideo(
      { url: camera.streamUrl('sub'), username: 'admin', password: 'nope' },
      OPTS,
    );
    expect(result).toMatchObject({ ok: false, failure: 'unauthorized' });
  });

  it('a closed port is unreachable', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const result = await probeVideo(
      { url: `rtsp://127.0.0.1:${port}/sub`, username: 'a', password: 'b' },
      OPTS,
    );
    expect(result).toMatchObject({ ok: false, failure: 'unreachable' });
  });
});

describe('video probe against a server that misbehaves', () => {
  let server: Server;
  let port = 0;
  const requests: string[] = [];
  let mode: 'basic' | 'foreign' | 'silent' = 'basic';

  beforeAll(async () => {
    server = createServer((socket) => {
      let buffer = '';
      socket.on('error', () => undefined);
      socket.on('data', (d) => {
        buffer += d.toString('latin1');
        for (;;) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffer.slice(0, end);
          buffer = buffer.slice(end + 4);
          requests.push(head);
          const cseq = /CSeq: (\d+)/i.exec(head)?.[1] ?? '0';
          if (mode === 'silent') continue;
          if (mode === 'basic') {
            socket.write(
              `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Basic realm="x"\r\n\r\n`,
            );
            continue;
          }
          const sdp = 'v=0\r\nm=video 0 RTP/AVP 96\r\na=control:rtsp://192.0.2.9:554/track1\r\n';
          socket.write(
            `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`,
          );
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('Basic only: refused, and no Authorization header ever sent', async () => {
    mode = 'basic';
    requests.length = 0;
    const result = await probeVideo(
      { url: `rtsp://127.0.0.1:${port}/s`, username: 'a', password: 'secret' },
      OPTS,
    );
    expect(result).toMatchObject({ ok: false, failure: 'basic_only' });
    expect(requests.join('\n')).not.toMatch(/authorization/i);
  });

  it('a track on another host: refused, nothing sent after DESCRIBE', async () => {
    mode = 'foreign';
    requests.length = 0;
    const result = await probeVideo(
      { url: `rtsp://127.0.0.1:${port}/s`, username: 'a', password: 'b' },
      OPTS,
    );
    expect(result).toMatchObject({ ok: false, failure: 'foreign_url' });
    expect(requests.map((r) => r.split(' ')[0])).toEqual(['DESCRIBE']);
  });

  it('a server that never answers: a timeout within the request bound', async () => {
    mode = 'silent';
    const started = Date.now();
    const result = await probeVideo(
      { url: `rtsp://127.0.0.1:${port}/s`, username: 'a', password: 'b' },
      { windowMs: 500, timeoutMs: 600 },
    );
    expect(result).toMatchObject({ ok: false, failure: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
