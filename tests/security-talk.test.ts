/**
 * Live talk (the officer's microphone to village loudspeakers) under attack, through a real hub, a
 * gateway speaking the MQTT contract and real WebSockets. The hostile pass found a talk token usable
 * by another village's operator and after its issuer logged out, and the microphone socket still
 * open (speakers playing) seconds after logout or disabling the account. Now:
 *  - a talk token is good once, only for the login session that created the broadcast (presented in
 *    the socket's subprotocols), and only while the speakers are in that session's scope;
 *  - the microphone — and the gateways' talk sockets with it — close the moment the session ends:
 *    logout, password change, account disabled, account deleted.
 */
import {
  type BroadcastView,
  edgeTalkPath,
  TALK_SAMPLE_RATE,
  talkSocketProtocols,
} from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestHub, type TestHub } from './support/hub.ts';
import { speakerMeta, startVillageGateway, type VillageGateway } from './support/village-gateway.ts';
import { waitFor } from './support/wait.ts';

const PASSWORD = 'a-long-password';

describe('live talk is bound to the session that started it', () => {
  let hub: TestHub;
  let admin: string;
  let gwA: VillageGateway;
  let gwB: VillageGateway;
  const sockets: WebSocket[] = [];

  const inject = (method: string, url: string, token: string, payload?: object) =>
    hub.app.inject({
      method: method as 'POST',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
  const login = async (username: string, password = PASSWORD) => {
    const res = await hub.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username, password },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().token as string;
  };
  const liveTalk = async (token: string, speaker = `${gwA.id}.spk`) => {
    const res = await inject('POST', '/api/broadcasts', token, {
      targets: { speakers: [speaker] },
      content: { live: {} },
      priority: 'warning',
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as BroadcastView & { talk: { token: string; path: string } };
  };
  /** Opens a socket; resolves with it once open, or with the HTTP status that refused it. */
  const open = (url: string, protocols: string[] | undefined, headers: Record<string, string> = {}) =>
    new Promise<{ ws?: WebSocket; status?: number }>((resolve) => {
      const ws = new WebSocket(url, protocols ?? [], { headers });
      sockets.push(ws);
      ws.once('open', () => resolve({ ws }));
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
      ws.once('error', () => resolve({ status: -1 }));
    });
  const mic = (b: { talk: { token: string; path: string } }, loginToken?: string) =>
    open(
      `${hub.baseUrl.replace('http', 'ws')}${b.talk.path}?token=${b.talk.token}`,
      loginToken === undefined ? undefined : talkSocketProtocols(loginToken),
    );
  const refused = async (reason: string) => hub.metric('qly_audio_refused_total', { reason });

  beforeAll(async () => {
    hub = await startTestHub();
    admin = await hub.token();
    gwA = await startVillageGateway(hub, 'gw-talk-a', 'v-talk-a', { spk: speakerMeta('A speaker') });
    gwB = await startVillageGateway(hub, 'gw-talk-b', 'v-talk-b', { spk: speakerMeta('B speaker') });
    for (const [username, role, sites] of [
      ['duty', 'duty_officer', []],
      ['op-b', 'village_operator', ['v-talk-b']],
    ] as const) {
      const res = await inject('POST', '/api/users', admin, { username, password: PASSWORD, role, sites });
      expect(res.statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    for (const s of sockets) s.terminate();
    await gwA?.close();
    await gwB?.close();
    await hub?.close();
  });

  it('refuses a talk token from another village’s operator, another session, no session, or after logout', async () => {
    const first = await login('duty');
    const b = await liveTalk(first);
    const operator = await login('op-b');
    expect((await mic(b, operator)).status).toBe(403); // another village's operator
    expect(await refused('talk_other_session')).toBe(1);
    expect((await mic(b)).status).toBe(401); // no login at all
    expect(await refused('talk_unauthenticated')).toBe(1);
    const second = await login('duty');
    expect((await mic(b, second)).status).toBe(403); // the same officer, another session
    // The issuing session logs out: its token is worth nothing, even in its own hands.
    expect((await inject('POST', '/api/auth/logout', first)).statusCode).toBe(204);
    expect((await mic(b, first)).status).toBe(401);
    expect(await refused('talk_unauthenticated')).toBe(2);
    // Refusals by strangers did not spend it: a live session's own token opens (once).
    const c = await liveTalk(second);
    expect((await mic(c, operator)).status).toBe(403);
    const own = await mic(c, second);
    expect(own.ws?.protocol).toBe('qly-talk'); // the answer names the protocol, not the token
    own.ws?.close();
    expect((await mic(c, second)).status).toBe(401); // good once
  });

  it('closes the microphone and the gateway’s talk socket the moment the session ends', async () => {
    let password = PASSWORD;
    const endings: Array<[string, (token: string) => Promise<void>]> = [
      ['logout', async (token) => void (await inject('POST', '/api/auth/logout', token))],
      [
        'password change',
        async (token) => {
          const res = await inject('POST', '/api/auth/password', token, {
            current: password,
            password: 'another-long-password',
          });
          expect(res.statusCode).toBe(204);
          password = 'another-long-password';
        },
      ],
      [
        'account disabled',
        async () => void (await inject('PATCH', '/api/users/duty', admin, { disabled: true })),
      ],
      ['account deleted', async () => void (await inject('DELETE', '/api/users/duty', admin))],
    ];
    for (const [how, end] of endings) {
      if (how === 'account deleted') await inject('PATCH', '/api/users/duty', admin, { disabled: false }); // back from the previous round
      const token = await login('duty', password);
      const b = await liveTalk(token);
      const play = await gwA.waitForCommand(`speaker.play for ${how}`, (c) => c.params?.broadcast === b.id);
      const { session } = (play.params as { source: { live: { session: string } } }).source.live;
      const microphone = (await mic(b, token)).ws as WebSocket;
      expect(microphone, how).toBeDefined();
      const gateway = (
        await open(`${hub.baseUrl.replace('http', 'ws')}${edgeTalkPath(session)}`, undefined, {
          authorization: gwA.basicAuth,
        })
      ).ws as WebSocket;
      expect(gateway, how).toBeDefined();
      let heard = 0;
      gateway.on('message', (data: Buffer) => {
        heard += data.length;
      });
      microphone.send(Buffer.alloc((TALK_SAMPLE_RATE / 50) * 2)); // 20 ms of PCM
      await waitFor(`the gateway hears the microphone (${how})`, () => heard > 0);
      const closed = { mic: 0, micCode: 0, gateway: 0 };
      microphone.once('close', (code) => {
        closed.mic = Date.now();
        closed.micCode = code;
      });
      gateway.once('close', () => {
        closed.gateway = Date.now();
      });
      const endedAt = Date.now();
      await end(token);
      // "At once": the bus closes it, well before any periodic check could.
      await waitFor(`microphone closed after ${how}`, () => closed.mic && closed.gateway, 500);
      expect(closed.micCode, how).toBe(4401);
      expect(closed.mic - endedAt, how).toBeLessThan(500);
    }
    expect(await refused('talk_session_ended')).toBe(4);
  });
});
