/**
 * The agent's RTSP relay against the camera simulator's RTSP server (Digest, like a camera): it
 * answers the camera's challenge itself, gives the client its own CSeq back, refuses a request that
 * names any other host (never forwarded), and a token works for one connection only.
 */
import { createConnection } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../../src/adapters/onvif-camera/simulator/index.ts';
import { RtspAuthRelay } from '../../src/video/rtsp-relay.ts';

/** Sends RTSP requests one after another on one connection; the answers' heads. */
async function converse(url: string, requests: string[]): Promise<string[]> {
  const { hostname, port } = new URL(url);
  const socket = createConnection(Number(port), hostname);
  const answers: string[] = [];
  let buffer = '';
  let waiting: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    buffer += c.toString('latin1');
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffer.slice(0, end);
      const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      answers.push(head);
      buffer = buffer.slice(end + 4 + length);
      waiting?.();
    }
  });
  socket.on('error', () => waiting?.());
  socket.on('close', () => waiting?.());
  for (const request of requests) {
    const before = answers.length;
    socket.write(request);
    await new Promise<void>((resolve) => {
      waiting = resolve;
      if (answers.length > before || socket.destroyed) resolve();
    });
  }
  socket.destroy();
  return answers;
}

describe('RTSP relay', () => {
  const camera = new CameraSimulator({
    credentials: { username: 'admin', password: 'relay-pw-1' },
    ptz: false,
  });
  const relay = RtspAuthRelay.shared(pino({ level: 'silent' }));
  beforeAll(() => camera.start());
  afterAll(() => camera.stop());

  it('answers the camera’s Digest challenge, keeps the client’s CSeq, refuses other hosts and spent tokens', async () => {
    const session = await relay.open({
      url: camera.streamUrl('sub'),
      username: 'admin',
      password: 'relay-pw-1',
    });
    try {
      expect(session.url).toMatch(/^rtsp:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{32}\/sub$/);
      const foreignBefore = relay.refused.foreign_uri;
      const describesBefore = camera.rtspServer?.served.get('DESCRIBE') ?? 0;
      const answers = await converse(session.url, [
        `DESCRIBE ${session.url} RTSP/1.0\r\nCSeq: 7\r\nAccept: application/sdp\r\n\r\n`,
        `SETUP rtsp://127.0.0.2:${camera.rtspServer?.port}/sub/trackID=0 RTSP/1.0\r\nCSeq: 8\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n`,
      ]);
      expect(answers[0]).toMatch(/^RTSP\/1\.0 200 OK/);
      expect(answers[0]).toMatch(/\r\nCSeq: 7(\r\n|$)/);
      expect(answers[1]).toMatch(/^RTSP\/1\.0 403 Forbidden\r\nCSeq: 8/);
      expect(relay.refused.foreign_uri).toBe(foreignBefore + 1);
      // The camera saw the DESCRIBE twice (challenged, then answered) and nothing for 127.0.0.2.
      expect(camera.rtspServer?.served.get('DESCRIBE')).toBe(describesBefore + 2);
      expect(camera.rtspServer?.served.get('SETUP') ?? 0).toBe(0);
      const spent = relay.refused.bad_token;
      expect(
        (await converse(session.url, [`OPTIONS ${session.url} RTSP/1.0\r\nCSeq: 1\r\n\r\n`]))[0],
      ).toMatch(/^RTSP\/1\.0 404/);
      expect(relay.refused.bad_token).toBe(spent + 1);
    } finally {
      session.close();
    }
    expect(relay.port).toBeUndefined(); // no session, no listener
  });
});
