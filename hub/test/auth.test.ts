/**
 * Access control through the real hub (embedded broker, SQLite, socket.io on a real port): every REST
 * route and the socket need a token; roles are enforced; village operators see only their sites.
 */
import { io as ioClient } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../../tests/support/hub.ts';

// The dashboard's static files are public (they hold no data); everything under /api and /metrics is not.
// Login and enrolment take their credential in the body (a password, a one-time code); enrolment's
// refusals are tested in tests/provisioning.test.ts.
const isDataRoute = (route: string) =>
  / \/(api|metrics)/.test(route) && route !== 'POST /api/auth/login' && route !== 'POST /api/enrol';
const OWN_TOKEN_ROUTES: Record<string, string> = {
  'GET /api/evidence/file': 'a download token is required',
  'GET /api/cluster/video/ws': 'invalid hub relay token',
};
const ADMIN_ONLY = [
  'GET /api/users',
  'POST /api/users',
  'POST /api/gateways',
  'GET /metrics',
  'GET /api/fleet',
  'POST /api/enrolments',
];

describe('authentication and roles', () => {
  let hub: TestHub;
  let viewer: string;
  let operator: string;

  beforeAll(async () => {
    hub = await startTestHub();
    const admin = await hub.token();
    for (const [username, role, sites] of [
      ['watcher', 'viewer', []],
      ['grid-li', 'village_operator', ['village-1']],
    ] as const) {
      const res = await hub.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: { authorization: `Bearer ${admin}` },
        payload: { username, password: 'a-long-password', role, sites },
      });
      expect(res.statusCode).toBe(201);
    }
    viewer = await hub.token('watcher', 'a-long-password');
    operator = await hub.token('grid-li', 'a-long-password');
  });
  afterAll(async () => {
    await hub?.close();
  });

  const concrete = (url: string) => url.replace(':key', 'gw-1.dev-1');

  it('answers 401 with the error code on every route without a token', async () => {
    const routes = hub.app.routeList.filter(isDataRoute);
    expect(routes.length).toBeGreaterThanOrEqual(12);
    for (const route of routes) {
      const [method, url] = route.split(' ') as [string, string];
      const res = await hub.app.inject({
        method: method as 'GET',
        url: concrete(url),
        ...(method === 'POST' ? { payload: {} } : {}),
      });
      expect(res.statusCode, route).toBe(401);
      // Routes authenticated by their own single-use token say which credential is missing.
      const message = OWN_TOKEN_ROUTES[route] ?? 'authentication required';
      expect(res.json(), route).toEqual({ code: 'HUB_ERR_UNAUTHORIZED', message });
      const forged = await hub.app.inject({
        method: method as 'GET',
        url: concrete(url),
        headers: { authorization: 'Bearer not.a.jwt' },
      });
      expect(forged.statusCode, `${route} with a forged token`).toBe(401);
    }
  });

  it('answers 403 to a viewer on admin routes and 200 on the routes a viewer may read', async () => {
    for (const route of ADMIN_ONLY) {
      const [method, url] = route.split(' ') as [string, string];
      const res = await hub.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${viewer}` },
        ...(method === 'POST' ? { payload: {} } : {}),
      });
      expect(res.statusCode, route).toBe(403);
      expect(res.json()).toMatchObject({ code: 'HUB_ERR_FORBIDDEN' });
    }
    for (const url of [
      '/api/devices',
      '/api/gateways',
      '/api/sites',
      '/api/health',
      '/api/map',
      '/api/auth/me',
    ]) {
      const res = await hub.app.inject({ url, headers: { authorization: `Bearer ${viewer}` } });
      expect(res.statusCode, url).toBe(200);
    }
  });

  it('refuses a wrong password the same way as an unknown user, and counts both', async () => {
    const before = await hub.metric('qly_login_failures_total');
    for (const payload of [
      { username: 'admin', password: 'wrong' },
      { username: 'nobody', password: 'wrong' },
    ]) {
      const res = await hub.app.inject({ method: 'POST', url: '/api/auth/login', payload });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ code: 'HUB_ERR_BAD_CREDENTIALS', message: 'wrong username or password' });
    }
    expect(await hub.metric('qly_login_failures_total')).toBe(before + 2);
  });

  it('rejects invalid request bodies with a validation error', async () => {
    const admin = await hub.token();
    const cases = [
      { url: '/api/auth/login', payload: { username: 'admin' } },
      { url: '/api/users', payload: { username: 'x', password: 'short', role: 'viewer' } },
      { url: '/api/users', payload: { username: 'y', password: 'a-long-password', role: 'emperor' } },
      {
        url: '/api/users',
        payload: { username: 'z', password: 'a-long-password', role: 'village_operator', sites: [] },
      },
      { url: '/api/gateways', payload: { id: 'gw/1', site: 's' } },
    ];
    for (const c of cases) {
      const res = await hub.app.inject({
        method: 'POST',
        url: c.url,
        payload: c.payload,
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.statusCode, JSON.stringify(c)).toBe(400);
      expect(res.json().code).toBe('HUB_ERR_VALIDATION');
    }
    expect(
      await hub.metric('qly_http_rejected_total', { code: 'HUB_ERR_VALIDATION' }),
    ).toBeGreaterThanOrEqual(cases.length);
  });

  it('issues gateway credentials once to an admin', async () => {
    const res = await hub.app.inject({
      method: 'POST',
      url: '/api/gateways',
      payload: { id: 'gw-new', site: 'village-1' },
      headers: { authorization: `Bearer ${await hub.token()}` },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ id: 'gw-new', site: 'village-1', username: 'gw-new' });
    expect(res.json().password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    // A machine-generated 144-bit secret: a salted SHA-256, not a slow password hash.
    expect(hub.app.stateDb.getGateway('gw-new')?.passwordHash).toMatch(/^sha256\$/);
  });

  it('limits a village operator to their own sites', async () => {
    const res = await hub.app.inject({ url: '/api/sites', headers: { authorization: `Bearer ${operator}` } });
    expect(res.json().map((s: { id: string }) => s.id)).toEqual(['village-1']);
  });

  describe('socket.io live channel', () => {
    const connect = (auth: Record<string, unknown>) =>
      new Promise<{ ok: boolean; message: string; snapshot?: unknown }>((resolve) => {
        const socket = ioClient(hub.baseUrl, {
          path: '/socket.io',
          auth,
          transports: ['websocket'],
          reconnection: false,
        });
        socket.on('connect', () => socket.emit('subscribe', {}));
        socket.on('snapshot', (snapshot) => {
          socket.disconnect();
          resolve({ ok: true, message: 'snapshot', snapshot });
        });
        socket.on('connect_error', (err) => {
          socket.disconnect();
          resolve({ ok: false, message: err.message });
        });
      });

    it('refuses a socket without a token or with a bad one', async () => {
      expect(await connect({})).toEqual({ ok: false, message: 'HUB_ERR_UNAUTHORIZED' });
      expect(await connect({ token: 'forged' })).toEqual({ ok: false, message: 'HUB_ERR_UNAUTHORIZED' });
    });

    it('sends a snapshot to an authenticated socket', async () => {
      const result = await connect({ token: viewer });
      expect(result.ok).toBe(true);
      expect(result.snapshot).toMatchObject({ devices: [], gateways: expect.any(Array) });
    });
  });
});

describe('first start', () => {
  it('generates an admin password when ADMIN_PASSWORD is not set, and never again', async () => {
    const saved = process.env.ADMIN_PASSWORD;
    const { buildApp } = await import('../src/app.ts');
    const { loadHubConfig } = await import('../src/config.ts');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dataDir = mkdtempSync(join(tmpdir(), 'qly-first-'));
    const config = loadHubConfig(
      undefined,
      {},
      { dataDir, logLevel: 'silent', mqtt: { embeddedHost: '127.0.0.1', embeddedPort: 0 } },
    );
    delete process.env.ADMIN_PASSWORD;
    try {
      const first = await buildApp(config);
      const password = first.bootstrap.adminPassword as string;
      expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      const login = await first.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: 'admin', password },
      });
      expect(login.statusCode).toBe(200);
      await first.close();
      const second = await buildApp(config);
      expect(second.bootstrap.adminPassword).toBeUndefined();
      await second.close();
    } finally {
      process.env.ADMIN_PASSWORD = saved;
    }
  });
});
