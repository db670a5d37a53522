/**
 * Accounts, sessions, the audit log and the live channel under attack, through a real hub:
 * login limited per address, an address locked out of a username after failures, a username under
 * attack slowed (never the real user locked out from elsewhere); revoked and expired tokens
 * refused on REST and sockets (sockets closed); a token of a deleted user is 401, never 500;
 * scrypt at the OWASP cost with transparent re-hash; the audit chain verifies and a tampered,
 * deleted or cut-off entry is found (API and CLI); subscribe bursts limited and their cost bounded
 * by the caller's scope; the socket gauge; scoped health; OpenAPI behind authentication; private
 * file modes.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceMeta } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { sleep, waitFor } from './support/wait.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function hubWith(config: Record<string, unknown> = {}): Promise<TestHub> {
  const hub = await startTestHub({ config });
  cleanups.push(() => hub.close());
  return hub;
}

async function createUser(hub: TestHub, username: string, role: string, sites: string[] = []) {
  const res = await hub.app.inject({
    method: 'POST',
    url: '/api/users',
    headers: { authorization: `Bearer ${await hub.token()}` },
    payload: { username, password: 'a-long-password', role, sites },
  });
  expect(res.statusCode).toBe(201);
}

const login = (hub: TestHub, username: string, password: string, remoteAddress = '127.0.0.1') =>
  hub.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password }, remoteAddress });

const me = (hub: TestHub, token: string) =>
  hub.app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } });

/** A socket that records whether it was disconnected by the hub. */
async function liveSocket(hub: TestHub, token: string) {
  const socket: Socket = io(hub.baseUrl, {
    path: '/socket.io',
    auth: { token },
    transports: ['websocket'],
    reconnection: false,
  });
  cleanups.push(() => socket.disconnect());
  const state = { disconnected: '', errors: [] as Array<{ code: string }>, snapshots: 0 };
  socket.on('disconnect', (reason) => {
    state.disconnected = reason;
  });
  socket.on('subscribe:error', (e: { code: string }) => state.errors.push(e));
  socket.on('snapshot', () => {
    state.snapshots += 1;
  });
  await waitFor('socket connected', () => socket.connected);
  return { socket, state };
}

describe('login throttling and lockout', () => {
  it('locks an address out of a username after 5 failures (even the right password waits), with Retry-After', async () => {
    const hub = await hubWith();
    await createUser(hub, 'duty', 'duty_officer');
    for (let i = 0; i < 5; i++) expect((await login(hub, 'duty', 'wrong-password')).statusCode).toBe(401);
    const locked = await login(hub, 'duty', 'a-long-password');
    expect(locked.statusCode).toBe(429);
    expect(locked.json()).toMatchObject({ code: 'HUB_ERR_LOCKED' });
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    // An unknown username locks the same way: the answer does not reveal which accounts exist.
    for (let i = 0; i < 5; i++) await login(hub, 'nobody', 'wrong-password');
    expect((await login(hub, 'nobody', 'x')).json()).toMatchObject({ code: 'HUB_ERR_LOCKED' });
    const failed = hub.app.audit.list({ limit: 100, action: 'login' }).filter((e) => e.outcome === 'failed');
    expect(failed.length).toBeGreaterThanOrEqual(10);
    expect(await hub.metric('qly_login_throttled_total', { reason: 'locked' })).toBe(2);
  });

  it('a guesser at one address does not lock the real user out from another (hostile pass: 5 failures locked everyone out for 300 s)', async () => {
    const hub = await hubWith();
    await createUser(hub, 'duty', 'duty_officer');
    for (let i = 0; i < 5; i++)
      expect((await login(hub, 'duty', 'wrong-password', '10.66.0.1')).statusCode).toBe(401);
    expect((await login(hub, 'duty', 'a-long-password', '10.66.0.1')).statusCode).toBe(429);
    // The officer at the command room's own address signs in at once.
    const officer = await login(hub, 'duty', 'a-long-password', '10.1.1.10');
    expect(officer.statusCode).toBe(200);
    expect(officer.json().user).toMatchObject({ username: 'duty' });
  });

  it('slows a username guessed from many addresses (a delay, never a refusal) and limits per address', async () => {
    const hub = await hubWith({
      auth: {
        scryptLog2N: 12,
        lockoutFailures: 100,
        lockoutMs: 60_000,
        slowdownAfterFailures: 5,
        slowdownStepMs: 150,
        slowdownMaxMs: 450,
      },
    });
    await createUser(hub, 'watcher', 'viewer');
    const timed = async (password: string, address: string) => {
      const started = Date.now();
      const res = await login(hub, 'watcher', password, address);
      return { status: res.statusCode, ms: Date.now() - started };
    };
    const attempts: Array<{ status: number; ms: number }> = [];
    for (let i = 0; i < 12; i++) attempts.push(await timed('wrong', `10.0.0.${i + 1}`));
    expect(attempts.map((a) => a.status)).toEqual(Array(12).fill(401)); // never refused, only slowed
    expect(attempts[5]?.ms).toBeLessThan(150); // 5 failures before it: still free
    expect(attempts[7]?.ms).toBeGreaterThanOrEqual(300 - 20); // 7 failures before it: 2 beyond the 5 free
    expect(attempts[11]?.ms).toBeGreaterThanOrEqual(450 - 20); // capped
    expect(await hub.metric('qly_login_throttled_total', { reason: 'delayed' })).toBe(6);
    // The real user, from yet another address: in, after the same bounded delay.
    const real = await timed('a-long-password', '10.0.0.99');
    expect(real.status).toBe(200);
    expect(real.ms).toBeGreaterThanOrEqual(450 - 20);
    const fromOne: number[] = [];
    for (let i = 0; i < 32; i++)
      fromOne.push((await login(hub, `user-${i}`, 'wrong', '10.9.9.9')).statusCode);
    expect(fromOne.filter((s) => s === 429).length).toBe(2); // per address: 30 a minute
    const limited = await login(hub, 'user-x', 'wrong', '10.9.9.9');
    expect(limited.headers['retry-after']).toBeDefined();
    expect(limited.json()).toMatchObject({ code: 'HUB_ERR_RATE_LIMITED' });
  });
});

describe('sessions end when they must', () => {
  it('logout, password change, disable and delete refuse the token on REST and close the sockets', async () => {
    const hub = await hubWith();
    await createUser(hub, 'duty', 'duty_officer');
    const admin = await hub.token();
    const fresh = async () => (await login(hub, 'duty', 'a-long-password')).json().token as string;

    // Logout ends this session only.
    const a = await fresh();
    const b = await fresh();
    const sa = await liveSocket(hub, a);
    const out = await hub.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { authorization: `Bearer ${a}` },
    });
    expect(out.statusCode).toBe(204);
    expect((await me(hub, a)).statusCode).toBe(401);
    expect((await me(hub, b)).statusCode).toBe(200);
    await waitFor('socket of the ended session closed', () => sa.state.disconnected !== '');

    // Disabling the user ends every session at once.
    const sb = await liveSocket(hub, b);
    const disable = await hub.app.inject({
      method: 'PATCH',
      url: '/api/users/duty',
      headers: { authorization: `Bearer ${admin}` },
      payload: { disabled: true },
    });
    expect(disable.statusCode).toBe(200);
    expect((await me(hub, b)).statusCode).toBe(401);
    await waitFor('socket closed on disable', () => sb.state.disconnected !== '');
    expect((await login(hub, 'duty', 'a-long-password')).statusCode).toBe(401);

    // Re-enabled, then the user changes their password: all sessions end.
    await hub.app.inject({
      method: 'PATCH',
      url: '/api/users/duty',
      headers: { authorization: `Bearer ${admin}` },
      payload: { disabled: false },
    });
    const c = await fresh();
    const change = await hub.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: { authorization: `Bearer ${c}` },
      payload: { current: 'a-long-password', password: 'another-long-password' },
    });
    expect(change.statusCode).toBe(204);
    expect((await me(hub, c)).statusCode).toBe(401);
    const d = (await login(hub, 'duty', 'another-long-password')).json().token as string;

    // A deleted user's token is 401, not 500; so is a token signed with the real key for a made-up session.
    await hub.app.inject({
      method: 'DELETE',
      url: '/api/users/duty',
      headers: { authorization: `Bearer ${admin}` },
    });
    const gone = await me(hub, d);
    expect(gone.statusCode).toBe(401);
    expect(gone.json()).toEqual({ code: 'HUB_ERR_UNAUTHORIZED', message: 'authentication required' });
    const forged = hub.app.jwt.sign({ sub: 'admin', sid: 'no-such-session' });
    expect((await me(hub, forged)).statusCode).toBe(401);
    const forgedRole = hub.app.jwt.sign({ sub: 'ghost', sid: 'x', role: 'admin' } as never);
    expect((await me(hub, forgedRole)).statusCode).toBe(401);
    // The last administrator cannot lock the hub out.
    const selfDisable = await hub.app.inject({
      method: 'PATCH',
      url: '/api/users/admin',
      headers: { authorization: `Bearer ${admin}` },
      payload: { disabled: true },
    });
    expect(selfDisable.statusCode).toBe(409);
  });

  it('an expired token is refused on REST and its socket is closed when it expires', async () => {
    const hub = await hubWith({ auth: { scryptLog2N: 12, tokenTtl: '2s' } });
    const token = (await login(hub, 'admin', 'test-admin-password')).json().token as string;
    const s = await liveSocket(hub, token);
    expect((await me(hub, token)).statusCode).toBe(200);
    await waitFor('socket closed at expiry', () => s.state.disconnected !== '', 6000);
    expect((await me(hub, token)).statusCode).toBe(401);
    expect(await hub.metric('qly_socket_refused_total', { reason: 'expired' })).toBe(1);
    const late = io(hub.baseUrl, {
      path: '/socket.io',
      auth: { token },
      transports: ['websocket'],
      reconnection: false,
    });
    cleanups.push(() => late.disconnect());
    const refused = await new Promise<string>((resolve) =>
      late.on('connect_error', (e) => resolve(e.message)),
    );
    expect(refused).toBe('HUB_ERR_UNAUTHORIZED');
  });
});

describe('password hashing', () => {
  it('uses scrypt N=2^17 by default and upgrades an older hash at the next login', async () => {
    const hub = await hubWith({ auth: {} }); // the defaults, not the tests' lower cost
    expect(hub.app.config.auth.scryptLog2N).toBe(17);
    const { hashPassword } = await import('../hub/src/security/passwords.ts');
    hub.app.stateDb.createUser({
      username: 'old-timer',
      passwordHash: await hashPassword('a-long-password', 14),
      role: 'viewer',
      sites: [],
    });
    expect((await login(hub, 'old-timer', 'a-long-password')).statusCode).toBe(200);
    expect(hub.app.stateDb.getUser('old-timer')?.passwordHash).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect((await login(hub, 'old-timer', 'a-long-password')).statusCode).toBe(200);
  });
});

describe('the audit log', () => {
  it('verifies, and finds an edited, a deleted and a cut-off entry (API and CLI)', async () => {
    const hub = await hubWith();
    await createUser(hub, 'duty', 'duty_officer');
    await login(hub, 'duty', 'wrong');
    await login(hub, 'duty', 'a-long-password');
    const admin = await hub.token();
    const verify = async () =>
      (
        await hub.app.inject({ url: '/api/audit/verify', headers: { authorization: `Bearer ${admin}` } })
      ).json();
    const cli = () =>
      spawnSync(process.execPath, ['--import', 'tsx', 'scripts/audit-verify.ts', '--data-dir', hub.dataDir], {
        encoding: 'utf8',
      });
    expect(await verify()).toMatchObject({ ok: true });
    expect(cli().status).toBe(0);
    const list = await hub.app.inject({
      url: '/api/audit?limit=50',
      headers: { authorization: `Bearer ${admin}` },
    });
    const entries = list.json() as Array<{ seq: number; action: string; outcome: string }>;
    expect(entries.map((e) => `${e.action}:${e.outcome}`)).toEqual(
      expect.arrayContaining(['user.create:ok', 'login:failed', 'login:ok']),
    );
    const viewer = await hub.app.inject({
      url: '/api/audit',
      headers: { authorization: `Bearer ${(await login(hub, 'duty', 'a-long-password')).json().token}` },
    });
    expect(viewer.statusCode).toBe(403);

    const db = hub.app.stateDb.handle;
    const target = entries.find((e) => e.action === 'login' && e.outcome === 'failed') as { seq: number };
    const original = db.prepare('SELECT detail FROM audit WHERE seq = ?').get(target.seq) as {
      detail: string;
    };
    db.prepare('UPDATE audit SET outcome = ? WHERE seq = ?').run('ok', target.seq);
    expect(await verify()).toMatchObject({ ok: false, problem: { seq: target.seq } });
    const edited = cli();
    expect(edited.status).toBe(1);
    expect(edited.stdout).toContain(`entry ${target.seq}`);
    db.prepare('UPDATE audit SET outcome = ?, detail = ? WHERE seq = ?').run(
      'failed',
      original.detail,
      target.seq,
    );
    expect(await verify()).toMatchObject({ ok: true });

    db.prepare('DELETE FROM audit WHERE seq = ?').run(2);
    expect(await verify()).toMatchObject({
      ok: false,
      problem: { seq: 2, reason: expect.stringContaining('missing') },
    });
  });

  it('finds the newest entry cut off (the head file names it)', async () => {
    const hub = await hubWith();
    await login(hub, 'admin', 'test-admin-password');
    const admin = await hub.token();
    const last = hub.app.audit.list({ limit: 1 })[0]?.seq as number;
    hub.app.stateDb.handle.prepare('DELETE FROM audit WHERE seq = ?').run(last);
    const res = await hub.app.inject({
      url: '/api/audit/verify',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.json()).toMatchObject({ ok: false, problem: { reason: expect.stringContaining('head') } });
  });
});

describe('the live channel under pressure', () => {
  it('limits subscribe bursts per socket and counts the refusals', async () => {
    const hub = await hubWith();
    const { socket, state } = await liveSocket(hub, await hub.token());
    for (let i = 0; i < 100; i++) socket.emit('subscribe', {});
    await waitFor('refusals seen', () => state.errors.length > 0);
    await sleep(300);
    expect(state.snapshots).toBeLessThanOrEqual(25);
    expect(state.snapshots + state.errors.length).toBe(100);
    expect(state.errors.every((e) => e.code === 'HUB_ERR_RATE_LIMITED')).toBe(true);
    expect(await hub.metric('qly_socket_refused_total', { reason: 'subscribe_rate' })).toBe(
      state.errors.length,
    );
  });

  it('a scoped user’s subscribe never walks the devices outside their scope', async () => {
    const hub = await hubWith();
    await createUser(hub, 'grid', 'village_operator', ['small']);
    const meta = (name: string): DeviceMeta => ({
      seq: 1,
      epoch: 'e',
      ts: 1,
      kind: 'sensor',
      name,
      position: { lat: 30, lon: 120 },
      capabilities: [],
    });
    for (let i = 0; i < 3; i++)
      hub.app.registry.applyMeta('small', 'gw-small', `d${i}`, meta(`s${i}`), false);
    for (let i = 0; i < 5000; i++) hub.app.registry.applyMeta('big', 'gw-big', `d${i}`, meta(`b${i}`), false);
    const registry = hub.app.registry;
    const listAll = registry.listDevices.bind(registry);
    let fullScans = 0;
    registry.listDevices = () => {
      fullScans += 1;
      return listAll();
    };
    const token = (await login(hub, 'grid', 'a-long-password')).json().token as string;
    const { socket } = await liveSocket(hub, token);
    const snapshot = new Promise<{ devices: unknown[] }>((resolve) => socket.once('snapshot', resolve));
    socket.emit('subscribe', {});
    expect((await snapshot).devices).toHaveLength(3);
    expect(fullScans).toBe(0);
    const health = await hub.app.inject({
      url: '/api/health',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(health.json()).toMatchObject({ devices: 3, gatewaysOnline: 0 });
  });

  it('counts sockets after they leave', async () => {
    const hub = await hubWith();
    const token = await hub.token();
    const a = await liveSocket(hub, token);
    await liveSocket(hub, token);
    await liveSocket(hub, token);
    await waitFor('3 sockets counted', async () => (await hub.metric('qly_socket_clients')) === 3);
    a.socket.disconnect();
    await waitFor('2 sockets counted', async () => (await hub.metric('qly_socket_clients')) === 2);
  });
});

describe('surfaces without data', () => {
  it('/healthz needs nothing and says nothing; the OpenAPI document needs a token and lists the routes', async () => {
    const hub = await hubWith();
    const healthz = await hub.app.inject({ url: '/healthz' });
    expect(healthz.statusCode).toBe(200);
    expect(healthz.json()).toEqual({ status: 'ok' });
    expect((await hub.app.inject({ url: '/api/openapi.json' })).statusCode).toBe(401);
    const doc = await hub.app.inject({
      url: '/api/openapi.json',
      headers: { authorization: `Bearer ${await hub.token()}` },
    });
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys(doc.json().paths as object);
    expect(paths).toEqual(
      expect.arrayContaining(['/api/devices/{key}/commands', '/api/audit', '/api/users/{username}']),
    );
  });

  it('keeps DATA_DIR private (0700) and its databases and secrets 0600', async () => {
    const hub = await hubWith();
    expect(statSync(hub.dataDir).mode & 0o777).toBe(0o700);
    for (const f of ['state.db', 'timeseries.db', 'jwt-secret', 'audit-head'])
      expect(statSync(join(hub.dataDir, f)).mode & 0o777, f).toBe(0o600);
  });
});
