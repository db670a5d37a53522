/**
 * The REST answers are typed once (protocols/src/rest.ts): every row of REST_ANSWERS is the very
 * schema its route serializes with — not a copy that can drift (the video token answer carried a
 * `stream` the contract's type did not know; history was typed four ways in the dashboard) — and what
 * the hub answers fits it, with nothing beside it (the session id of the user never leaves).
 */
import { REST_ANSWERS, type RestRoute } from '@qianliyan/protocols';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../../tests/support/hub.ts';

const SUCCESS = ['200', '201', '202', '204'];

describe('REST answers: one schema each, shared with the dashboard', () => {
  let hub: TestHub;
  let admin: string;

  beforeAll(async () => {
    hub = await startTestHub();
    admin = await hub.token();
    await hub.provisionGateway('gw-rest', 'village-rest');
  });
  afterAll(async () => {
    await hub?.close();
  });

  it('every route of the table answers with the table’s own schema', () => {
    const routes = Object.keys(REST_ANSWERS) as RestRoute[];
    const wrong = routes.flatMap((route) => {
      const responses = hub.app.routeResponses.get(route);
      if (!responses) return [`${route}: no such route, or no response schema`];
      const success = SUCCESS.filter((status) => responses[status] !== undefined);
      if (success.length === 0) return [`${route}: no success response schema`];
      return success
        .filter((status) => responses[status] !== REST_ANSWERS[route])
        .map((status) => `${route}: ${status} is a schema of its own`);
    });
    expect(wrong).toEqual([]);
  });

  it('what the hub answers fits the contract, and only that', async () => {
    const get = async (url: string) => {
      const res = await hub.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${admin}` } });
      expect(res.statusCode, url).toBe(200);
      return res.json() as unknown;
    };
    for (const route of [
      'GET /api/auth/me',
      'GET /api/users',
      'GET /api/sites',
      'GET /api/gateways',
      'GET /api/devices',
      'GET /api/alarms',
      'GET /api/incidents',
      'GET /api/incidents/kpis',
      'GET /api/broadcasts',
      'GET /api/clips',
      'GET /api/map',
      'GET /api/calls',
      'GET /api/calls/config',
    ] as const) {
      const query = route === 'GET /api/incidents/kpis' ? `?from=0&to=${Date.now()}` : '';
      const body = await get(`${route.slice(4)}${query}`);
      const errors = [...Value.Errors(REST_ANSWERS[route], body)].map((e) => `${e.path}: ${e.message}`);
      expect(errors, route).toEqual([]);
    }
    // The signed-in user carries its session id inside the hub; the answer's schema keeps it in.
    expect(Object.keys((await get('/api/auth/me')) as object).sort()).toEqual(['role', 'sites', 'username']);
    const [gateway] = (await get('/api/gateways')) as Array<Record<string, unknown>>;
    expect(gateway?.id).toBe('gw-rest');
  });
});
