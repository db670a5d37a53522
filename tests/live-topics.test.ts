/**
 * The live table is the one seam for pushed events: a throwaway topic (a row that exists only in
 * this test — a `LiveTopic` with its schema, key and sites) published through the hub's
 * `app.live.publish` reaches a socket whose user sees its village and not one whose user does not,
 * with no other code. Real hub, real socket.io clients signed in as two villages' operators.
 */
import type { LiveTopic } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { waitFor } from './support/wait.ts';

const DRILL: LiveTopic = {
  schema: Type.Object({ site: Type.String(), text: Type.String() }),
  key: (p) => (p as { text: string }).text,
  sites: (p) => [(p as { site: string }).site],
  keep: 10,
};

describe('a throwaway live topic through the live table', () => {
  let hub: TestHub;
  const sockets: Socket[] = [];
  const received = new Map<string, Array<{ site: string; text: string }>>();

  const connect = async (username: string): Promise<Socket> => {
    const token = await hub.token(username, `${username}-password-1`);
    const socket = io(hub.baseUrl, {
      path: '/socket.io',
      auth: { token },
      transports: ['websocket'],
      reconnection: false,
    });
    sockets.push(socket);
    received.set(username, []);
    socket.on('drill' as never, (p: { site: string; text: string }) => {
      received.get(username)?.push(p);
    });
    await new Promise<void>((resolve, reject) => {
      socket.on('connect', () => resolve());
      socket.on('connect_error', reject);
    });
    socket.emit('subscribe', { brief: true });
    await new Promise<void>((resolve) => socket.once('snapshot', () => resolve()));
    return socket;
  };

  beforeAll(async () => {
    hub = await startTestHub();
    const admin = await hub.token();
    for (const [username, site] of [
      ['qianli-op', 'demo-village'],
      ['dongshan-op', 'dongshan'],
    ] as const) {
      const res = await hub.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: { authorization: `Bearer ${admin}` },
        payload: { username, password: `${username}-password-1`, role: 'village_operator', sites: [site] },
      });
      expect(res.statusCode).toBe(201);
    }
    await connect('qianli-op');
    await connect('dongshan-op');
  });

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await hub?.close();
  });

  it('reaches the socket in scope and not the one out of scope', async () => {
    hub.app.live.publish('drill', { site: 'demo-village', text: '演练：千里村' }, DRILL);
    // Then one for the other village: socket.io keeps each socket's order, so once this one has
    // arrived there, the first would have arrived before it had it been sent there at all.
    hub.app.live.publish('drill', { site: 'dongshan', text: '演练：东山村' }, DRILL);
    await waitFor(
      'each village heard its own',
      () => received.get('qianli-op')?.length === 1 && received.get('dongshan-op')?.length === 1,
    );
    expect(received.get('qianli-op')).toEqual([{ site: 'demo-village', text: '演练：千里村' }]);
    expect(received.get('dongshan-op')).toEqual([{ site: 'dongshan', text: '演练：东山村' }]);
  });
});
