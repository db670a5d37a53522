/**
 * Findings of the hostile pass on video, snapshots, clips, discovery and logs, each through a real
 * hub with a gateway speaking the real MQTT contract and real HTTP/WebSocket clients:
 *  - a stream token opened any number of sockets for 60 s → one token, one socket, once;
 *  - stream and talk tokens and session ids appeared in request-URL log lines → redacted;
 *  - duty officers could make a gateway probe any host:port → only admins name targets, private
 *    IP literals only;
 *  - a clip upload's error echoed ffmpeg's messages → a stable code and sentence, ffmpeg in the log;
 *  - one operator's snapshots took all 64 hub-wide slots (the duty officer got 503) → a per-user
 *    limit under the hub-wide one.
 */
import {
  type BroadcastView,
  type Command,
  edgeSnapshotPath,
  edgeStreamPath,
  edgeTalkPath,
  talkSocketProtocols,
  VIDEO_WS_PATH,
} from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLIP_NOT_DECODABLE } from '../hub/src/services/clips.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import {
  cameraMeta,
  speakerMeta,
  startVillageGateway,
  type VillageGateway,
} from './support/village-gateway.ts';
import { waitFor } from './support/wait.ts';

const PASSWORD = 'a-long-password';
const CAM = 'gw-media.cam';
/** The smallest thing the hub takes for a JPEG: SOI, a byte, EOI. */
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0xff, 0xd9]);

describe('media and logs against a hostile village and a careless reader', () => {
  let hub: TestHub;
  let gw: VillageGateway;
  let admin: string;
  const lines: string[] = [];
  const sockets: WebSocket[] = [];
  const wsBase = () => hub.baseUrl.replace('http', 'ws');

  const request = (method: string, url: string, token: string, payload?: object) =>
    hub.app.inject({
      method: method as 'POST',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
  const login = async (username: string) => {
    const res = await hub.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username, password: PASSWORD },
    });
    expect(res.statusCode).toBe(200);
    return res.json().token as string;
  };
  const streamToken = async (token: string) => {
    const res = await request('POST', '/api/video/tokens', token, { device: CAM, stream: 'sub' });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().token as string;
  };
  /** Opens a socket; resolves once open (101), or with the HTTP status that refused it. */
  const open = (url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}) =>
    new Promise<{ ws?: WebSocket; status: number }>((resolve) => {
      const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers ?? {} });
      sockets.push(ws);
      ws.once('open', () => resolve({ ws, status: 101 }));
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
      ws.once('error', () => resolve({ status: -1 }));
    });
  const viewer = (token: string) =>
    open(`${wsBase()}${VIDEO_WS_PATH}?token=${encodeURIComponent(token)}&format=mse&device=${CAM}`);
  const snapshotCommands = () => gw.commands.filter((c) => c.action === 'camera.snapshot');
  const upload = (command: Command) =>
    fetch(`${hub.baseUrl}${edgeSnapshotPath(command.params?.upload as string)}`, {
      method: 'POST',
      headers: { authorization: gw.basicAuth, 'content-type': 'image/jpeg' },
      body: new Uint8Array(JPEG),
    });
  const videoRefused = (reason: string) => hub.metric('qly_video_refused_total', { reason });

  beforeAll(async () => {
    hub = await startTestHub({ logLines: lines, config: { video: { startTimeoutMs: 2000 } } });
    admin = await hub.token();
    gw = await startVillageGateway(hub, 'gw-media', 'v-media', {
      cam: cameraMeta('Gate camera'),
      spk: speakerMeta('Square speaker'),
    });
    for (const [username, role, sites] of [
      ['duty', 'duty_officer', []],
      ['op', 'village_operator', ['v-media']],
    ] as const) {
      const res = await request('POST', '/api/users', admin, { username, password: PASSWORD, role, sites });
      expect(res.statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    for (const s of sockets) s.terminate();
    await gw?.close();
    await hub?.close();
  });

  it('a stream token opens one socket, once; each (re)connect takes a fresh token', async () => {
    const duty = await login('duty');
    const token = await streamToken(duty);
    const first = await viewer(token);
    expect(first.status).toBe(101);
    expect((await viewer(token)).status).toBe(401); // a second socket, same token
    first.ws?.close();
    expect((await viewer(token)).status).toBe(401); // nor again after the first closed
    expect(await videoRefused('token_reused')).toBe(2);
    const again = await viewer(await streamToken(duty)); // what the player does on reconnect
    expect(again.status).toBe(101);
    again.ws?.close();
  });

  it('only an administrator names discovery targets, and only private addresses', async () => {
    const duty = await login('duty');
    const discover = (token: string, targets?: string[]) =>
      request('POST', `/api/gateways/${gw.id}/commands`, token, {
        action: 'camera.discover',
        params: { timeoutMs: 500, ...(targets ? { targets } : {}) },
        wait: false,
      });
    const officer = await discover(duty, ['192.168.1.20:3702']);
    expect(officer.statusCode).toBe(403);
    expect(officer.json().code).toBe('HUB_ERR_FORBIDDEN');
    expect((await discover(duty)).statusCode).toBe(202); // multicast: the command room's
    for (const target of ['8.8.8.8:3702', 'camera.example.com:3702', '[2001:db8::1]:3702', '100.64.0.1:3702'])
      expect((await discover(admin, [target])).statusCode, target).toBe(400);
    for (const target of ['192.168.1.20:3702', '10.0.0.9:8000', '[fe80::1]:3702'])
      expect((await discover(admin, [target])).statusCode, target).toBe(202);
    await waitFor(
      'the allowed probes reach the gateway',
      () => gw.commands.filter((c) => c.action === 'camera.discover').length === 4,
    );
    const probed = gw.commands
      .filter((c) => c.action === 'camera.discover')
      .flatMap((c) => (c.params?.targets as string[] | undefined) ?? []);
    expect(probed.sort()).toEqual(['10.0.0.9:8000', '192.168.1.20:3702', '[fe80::1]:3702']);
  });

  it('an undecodable clip gets a stable code and sentence; ffmpeg’s words go to the log only', async () => {
    const duty = await login('duty');
    const fake = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVEfmt '), Buffer.alloc(200, 7)]);
    const res = await fetch(`${hub.baseUrl}/api/clips?name=x`, {
      method: 'POST',
      headers: { authorization: `Bearer ${duty}`, 'content-type': 'audio/wav' },
      body: new Uint8Array(fake),
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({ code: 'HUB_ERR_UNSUPPORTED_MEDIA', message: CLIP_NOT_DECODABLE });
    const logged = await waitFor('ffmpeg’s message logged', () =>
      lines.find((l) => l.includes('clip upload not decodable')),
    );
    expect(JSON.parse(logged).ffmpeg.length).toBeGreaterThan(0);
  });

  it('one user’s snapshots cannot starve the duty officer: a per-user limit under the hub-wide one', async () => {
    const op = await login('op');
    const duty = await login('duty');
    const before = snapshotCommands().length;
    const statuses: number[] = [];
    const mine = Array.from({ length: 64 }, () =>
      request('GET', `/api/devices/${CAM}/snapshot`, op).then((r) => {
        statuses.push(r.statusCode);
        return r;
      }),
    );
    // 60 refused at once (not after a timeout): 4 in progress is this user's share.
    await waitFor('60 refused at once', () => statuses.length === 60, 3000);
    expect(statuses).toEqual(Array(60).fill(429));
    expect(await videoRefused('snapshot_user_limit')).toBe(60);
    await waitFor('the operator’s 4 sent', () => snapshotCommands().length === before + 4);
    // The duty officer's snapshot goes out and comes back while the operator's 4 still wait.
    const officer = request('GET', `/api/devices/${CAM}/snapshot`, duty);
    const command = await waitFor('the officer’s snapshot command', () =>
      snapshotCommands().length === before + 5 ? snapshotCommands().at(-1) : undefined,
    );
    expect((await upload(command)).status).toBe(204);
    const got = await officer;
    expect(got.statusCode).toBe(200);
    expect(got.headers['content-type']).toBe('image/jpeg');
    expect(got.rawPayload.equals(JPEG)).toBe(true);
    expect(await videoRefused('snapshot_busy')).toBe(0);
    await Promise.all(mine); // the last 4 time out (the gateway never uploads them)
    expect(statuses.filter((s) => s !== 429)).toHaveLength(4);
  }, 30_000);

  it('never logs tokens or session ids: stream and talk tokens, talk, push and upload sessions, logins', async () => {
    const from = lines.length;
    const duty = await login('duty');
    const secrets: Record<string, string> = { login: duty };
    const me = await request('GET', '/api/auth/me', duty);
    expect(me.statusCode).toBe(200);
    secrets.sid = (hub.app.jwt.decode(duty) as { sid: string }).sid;

    // A viewer socket (the token in its URL) and the push it starts (the session in the gateway's URL).
    secrets.stream = await streamToken(duty);
    const pushesBefore = gw.commands.filter((c) => c.action === 'stream.start').length;
    const watching = await viewer(secrets.stream);
    expect(watching.status).toBe(101);
    const start = await waitFor(
      'the hub asks the gateway to push',
      () => gw.commands.filter((c) => c.action === 'stream.start')[pushesBefore],
    );
    secrets.push = start.params?.session as string;
    const push = await open(`${wsBase()}${edgeStreamPath(secrets.push)}`, {
      headers: { authorization: gw.basicAuth },
    });
    expect(push.status).toBe(101);
    push.ws?.close();
    watching.ws?.close();

    // Live talk: the token in the microphone's URL, the session in the gateway's.
    const b = (
      await request('POST', '/api/broadcasts', duty, {
        targets: { speakers: ['gw-media.spk'] },
        content: { live: {} },
        priority: 'notice',
      })
    ).json() as BroadcastView & { talk: { token: string; path: string } };
    secrets.talk = b.talk.token;
    secrets.talkSession = (b.content as { live: { session: string } }).live.session;
    const mic = await open(`${wsBase()}${b.talk.path}?token=${secrets.talk}`, {
      protocols: talkSocketProtocols(duty),
    });
    expect(mic.status).toBe(101);
    const edge = await open(`${wsBase()}${edgeTalkPath(secrets.talkSession)}`, {
      headers: { authorization: gw.basicAuth },
    });
    expect(edge.status).toBe(101);
    mic.ws?.close();

    // A snapshot upload (the upload id in the gateway's URL).
    const before = snapshotCommands().length;
    const snap = request('GET', `/api/devices/${CAM}/snapshot`, duty);
    const command = await waitFor('snapshot command', () => snapshotCommands()[before]);
    secrets.upload = command.params?.upload as string;
    expect((await upload(command)).status).toBe(204);
    expect((await snap).statusCode).toBe(200);
    // And a refused request with a made-up token in its URL.
    expect((await viewer('not-a-token-but-secret-looking-0123456789')).status).toBe(401);
    secrets.made = 'not-a-token-but-secret-looking-0123456789';

    await waitFor('the request lines are written', () =>
      lines.slice(from).some((l) => l.includes('/api/edge/snapshots/')),
    );
    const text = lines.slice(from).join('');
    for (const [what, secret] of Object.entries(secrets)) expect(text.includes(secret), what).toBe(false);
    // The routes were logged (so this test can fail), with their credentials replaced.
    for (const path of [
      `${VIDEO_WS_PATH}?token=[redacted]`,
      `${b.talk.path}?token=[redacted]`,
      '/api/edge/talk/[redacted]',
      '/api/edge/streams/[redacted]',
      '/api/edge/snapshots/[redacted]',
    ])
      expect(text, path).toContain(path);
  });
});
