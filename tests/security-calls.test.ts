/**
 * Call signalling under attack, through a real hub and real socket.io clients. The hostile pass
 * relayed 215 MB through one unbounded `candidate` field in 9.3 s, and a village operator rang the
 * officers' dashboards 14,298 times in 10 s. Now:
 *  - every signalling field is bounded (an SDP ≤ 20,000 characters, a candidate line ≤ 1,024, no
 *    other fields), a message over 64 KiB closes the socket, and the bytes a socket relays per
 *    second are bounded;
 *  - a user starts at most `calls.maxStartsPer10s` calls in 10 s, with one ringing call per caller
 *    and callee; every refusal counted by reason.
 */
import type { CallView } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { sleep, waitFor } from './support/wait.ts';

const PASSWORD = 'a-long-password';

describe('call signalling is bounded', () => {
  let hub: TestHub;
  const sockets: Socket[] = [];

  async function connect(username: string) {
    const socket = io(hub.baseUrl, {
      path: '/socket.io',
      auth: { token: await hub.token(username, PASSWORD) },
      transports: ['websocket'],
      reconnection: false,
    });
    sockets.push(socket);
    const seen = {
      rings: [] as CallView[],
      updates: [] as CallView[],
      signals: [] as Array<{ call: string; from: string; data: unknown }>,
      errors: [] as Array<{ code: string }>,
      signalBytes: 0,
      disconnected: '',
    };
    socket.on('call:ring', (c: CallView) => seen.rings.push(c));
    socket.on('call:update', (c: CallView) => seen.updates.push(c));
    socket.on('call:signal', (s: { call: string; from: string; data: unknown }) => {
      seen.signals.push(s);
      seen.signalBytes += JSON.stringify(s.data).length;
    });
    socket.on('call:error', (e: { code: string }) => seen.errors.push(e));
    socket.on('disconnect', (reason) => {
      seen.disconnected = reason;
    });
    await waitFor(`${username} connected`, () => socket.connected);
    return { socket, seen };
  }
  const start = (socket: Socket, req: object) =>
    socket.emitWithAck('call:start', req) as Promise<{ call?: CallView; error?: { code: string } }>;
  const refused = (reason: string) => hub.metric('qly_socket_refused_total', { reason });

  beforeAll(async () => {
    hub = await startTestHub();
    const admin = await hub.token();
    for (const [username, role, sites] of [
      ['duty', 'duty_officer', []],
      ['op-a', 'village_operator', ['v-call-a']],
      ['op-b', 'village_operator', ['v-call-b']],
    ] as const) {
      const res = await hub.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: { authorization: `Bearer ${admin}` },
        payload: { username, password: PASSWORD, role, sites },
      });
      expect(res.statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await hub?.close();
  });

  it('a village cannot ring the command room thousands of times: starts per user, one ringing per pair', async () => {
    const officer = await connect('duty');
    const village = await connect('op-a');
    const first = await start(village.socket, { commandRoom: true });
    expect(first.call?.state).toBe('ringing');
    // The same call again while it rings: refused, and it does not ring twice.
    expect((await start(village.socket, { commandRoom: true })).error?.code).toBe('HUB_ERR_CONFLICT');
    expect(await refused('call_ringing')).toBe(1);
    village.socket.emit('call:hangup', { call: first.call?.id as string });
    // The hostile pass's loop: start, hang up, start again, as fast as the socket goes (2 s).
    let started = 1;
    let limited = 0;
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      const r = await start(village.socket, { commandRoom: true });
      if (r.call) {
        started += 1;
        village.socket.emit('call:hangup', { call: r.call.id });
      } else if (r.error?.code === 'HUB_ERR_RATE_LIMITED') limited += 1;
    }
    expect(started).toBeLessThanOrEqual(3 + 1); // 3 in 10 s, and the refill within 2 s is < 1
    expect(limited).toBeGreaterThan(20);
    await sleep(200);
    expect(officer.seen.rings.length).toBe(started);
    expect((await refused('call_start_rate')) + (await refused('call_rate'))).toBe(limited);
  });

  it('signals are bounded field by field and byte by byte; a message over 64 KiB closes the socket', async () => {
    const officer = await connect('duty');
    const village = await connect('op-b');
    const ringing = await start(officer.socket, { sites: ['v-call-b'] });
    const id = ringing.call?.id as string;
    await waitFor('the village rings', () => village.seen.rings.some((c) => c.id === id));
    village.socket.emit('call:accept', { call: id });
    const active = await waitFor('answered', () =>
      officer.seen.updates.find((c) => c.id === id && c.state === 'active'),
    );
    const to = active.participants.find((p) => p.username === 'duty')?.socket as string;
    const signal = (data: object) => village.socket.emit('call:signal', { call: id, to, data });

    // A well-formed candidate goes through.
    signal({
      candidate: {
        candidate: 'candidate:1 1 udp 2122260223 10.1.2.3 54400 typ host',
        sdpMid: '0',
        sdpMLineIndex: 0,
      },
    });
    await waitFor('a real candidate relayed', () => officer.seen.signals.length === 1);
    // 30 KB in the candidate line, an unknown field, a blob instead of a candidate: refused, not relayed.
    signal({ candidate: { candidate: 'x'.repeat(30_000), sdpMid: '0', sdpMLineIndex: 0 } });
    signal({ candidate: { candidate: 'candidate:1', padding: 'y'.repeat(10_000) } });
    signal({ candidate: { blob: 'z'.repeat(20_000) } });
    signal({ sdp: { type: 'offer', sdp: 'v=0\r\n'.repeat(5000) } }); // 25,000 characters
    await waitFor('four refusals', async () => (await refused('call_invalid')) === 4);
    expect(officer.seen.signals.length).toBe(1);

    // A flood of well-formed offers (19 KB each): what is relayed stays within the byte budget
    // (64 KiB/s with 4 s of burst), whatever the message count allows.
    const started = Date.now();
    const before = { bytes: await refused('call_bytes'), rate: await refused('call_rate') };
    const offer = `v=0\r\n${'a'.repeat(18_990)}`;
    for (let i = 0; i < 300; i++) signal({ sdp: { type: 'offer', sdp: offer } });
    const settled = async () => {
      const bytes = (await refused('call_bytes')) - before.bytes;
      const rate = (await refused('call_rate')) - before.rate;
      return officer.seen.signals.length - 1 + bytes + rate;
    };
    await waitFor('all 300 relayed or refused', async () => (await settled()) === 300);
    expect((await refused('call_bytes')) - before.bytes).toBeGreaterThan(100);
    await sleep(300);
    const seconds = (Date.now() - started) / 1000;
    expect(officer.seen.signals.length).toBeGreaterThan(1);
    expect(officer.seen.signalBytes).toBeLessThan(65_536 * (4 + seconds) + 20_000);
    expect(village.socket.connected).toBe(true);

    // One message of 200 KB never reaches the parser's consumers: the socket is closed.
    signal({ candidate: { candidate: 'w'.repeat(200_000) } });
    await waitFor('the sender cut off', () => village.seen.disconnected !== '');
    await sleep(200);
    expect(officer.seen.signals.every((s) => JSON.stringify(s.data).length < 21_000)).toBe(true);
    expect(hub.app.calls.get(id)).toBeUndefined(); // the call ended with the village's socket
  });
});
