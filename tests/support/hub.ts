/**
 * Starts a real hub in-process for a test: its own temporary DATA_DIR, HTTP on a free port, and
 * either the embedded broker (on a free port) or an external broker URL. Gateways are provisioned
 * through the hub's own state DB, exactly as `POST /api/gateways` does.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../hub/src/app.ts';
import { loadHubConfig } from '../../hub/src/config.ts';
import { issueGatewayCredentials } from '../../hub/src/services/gateway-credentials.ts';
import type { SqliteTimeSeriesStore } from '../../hub/src/stores/sqlite-timeseries.ts';
import { TEST_DASHBOARD_DIR } from './dashboard.ts';

export const ADMIN_PASSWORD = 'test-admin-password';

export interface TestHub {
  app: FastifyInstance;
  baseUrl: string;
  dataDir: string;
  brokerUrl: string;
  store: SqliteTimeSeriesStore;
  token(username?: string, password?: string): Promise<string>;
  /** Registers a gateway; returns its MQTT password. */
  provisionGateway(id: string, site: string, password?: string): Promise<string>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export interface TestHubOptions {
  /** Reuse a data dir (a hub restarted on the same files). */
  dataDir?: string;
  /** A fixed embedded broker port (a restarted hub where agents reconnect). */
  embeddedPort?: number;
  /** Collect log lines (JSON) here, at level `logLevel` (default info). */
  logLines?: string[];
  logLevel?: string;
  mqttUrl?: string;
  /** Password for the hub's user on an external broker. */
  mqttPassword?: string;
  config?: Record<string, unknown>;
}

export async function startTestHub(options: TestHubOptions = {}): Promise<TestHub> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'qly-hub-'));
  const overrides: Record<string, unknown> = {
    host: '127.0.0.1',
    port: 0,
    dataDir,
    // Test hubs serve the test build (`npm run build:test`): the only one with the test hooks.
    dashboardDir: TEST_DASHBOARD_DIR,
    logLevel: options.logLevel ?? (options.logLines ? 'info' : (process.env.QLY_TEST_LOG_LEVEL ?? 'silent')),
    // Tests hash many passwords: a lower scrypt cost (the default, 2^17, has its own test).
    auth: { scryptLog2N: 12 },
    ...options.config,
    mqtt: {
      embeddedHost: '127.0.0.1',
      embeddedPort: options.embeddedPort ?? 0,
      ...(options.config?.mqtt as object),
    },
  };
  if (options.mqttUrl) {
    const passwordFile = join(dataDir, 'mqtt-password');
    writeFileSync(passwordFile, options.mqttPassword ?? '');
    overrides.mqtt = { ...(overrides.mqtt as object), url: options.mqttUrl, passwordFile };
  }
  process.env.ADMIN_PASSWORD = ADMIN_PASSWORD;
  const config = loadHubConfig(undefined, {}, overrides);
  const lines = options.logLines;
  const app = await buildApp(config, lines ? { logStream: { write: (line) => lines.push(line) } } : {});
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const tokens = new Map<string, string>();

  const hub: TestHub = {
    app,
    baseUrl,
    dataDir,
    brokerUrl: app.brokerConnection.url,
    store: app.timeseries as SqliteTimeSeriesStore,
    async token(username = 'admin', password = ADMIN_PASSWORD) {
      const cached = tokens.get(username);
      if (cached) return cached;
      const res = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username, password },
      });
      if (res.statusCode !== 200) throw new Error(`login ${username} failed: ${res.statusCode} ${res.body}`);
      const token = (res.json() as { token: string }).token;
      tokens.set(username, token);
      return token;
    },
    provisionGateway: (id, site, password) => issueGatewayCredentials(app, id, site, password),
    async metric(name, labels = {}) {
      const res = await app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${await hub.token()}` },
      });
      const wanted = Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      const line = res.body.split('\n').find((l) => l.startsWith(wanted ? `${name}{${wanted}}` : `${name} `));
      return line ? Number(line.split(' ').at(-1)) : Number.NaN;
    },
    async close() {
      await app.close();
    },
  };
  return hub;
}
