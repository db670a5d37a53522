/**
 * `npm start`: the whole system on its embedded defaults — the hub with its embedded MQTT broker and
 * SQLite stores, plus one edge agent running a simulated village — and where to open the dashboard.
 * The demo gateway's MQTT password is issued on the first start and kept in DATA_DIR (mode 0600).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHub } from '../hub/src/server.ts';
import { issueGatewayCredentials } from '../hub/src/services/gateway-credentials.ts';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const edgeConfigPath = join(root, 'edge-agent/config/demo-village.json');
const edgeConfig = JSON.parse(readFileSync(edgeConfigPath, 'utf8')) as {
  gateway: { id: string; site: string };
};

// The demo keeps the terminal readable: warnings and errors only, unless QLY_LOG_LEVEL says otherwise.
process.env.QLY_LOG_LEVEL ??= 'warn';
const app = await startHub();
const { dataDir } = app.config;
const { id, site } = edgeConfig.gateway;

// Issue the demo gateway's credentials once; later starts reuse them.
const passwordFile = resolve(dataDir, `${id}.mqtt-password`);
if (!existsSync(passwordFile) || !app.stateDb.getGateway(id)?.passwordHash) {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(passwordFile, await issueGatewayCredentials(app, id, site), { mode: 0o600 });
}

// The demo's flood warning is a rule on readings (the simulators raise no alarms of their own):
// water above 3.2 m for a minute in the demo village, spoken on the nearest loudspeakers. Created
// once; an administrator can change, preview or delete it like any other rule.
if (app.readingRules.list().length === 0)
  app.readingRules.create(
    {
      name: '水位超警戒',
      enabled: true,
      scope: { kind: 'sensor', ...(app.siteTree.get(site) ? { site } : {}) },
      condition: {
        type: 'threshold',
        field: 'water_level',
        op: 'above',
        value: 3.2,
        hysteresis: 0.1,
        forMs: 60_000,
      },
      severity: 'alarm',
      action: { speak: { text: '河道水位超过警戒线，请远离河边。', count: 2, maxDistanceM: 2000 } },
    },
    'demo',
  );

const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : app.config.port;
const edge = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'edge-agent/src/main.ts'), '--config', edgeConfigPath],
  {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      QLY_MQTT_URL: app.brokerConnection.url,
      QLY_MQTT_PASSWORD_FILE: passwordFile,
      QLY_OUTBOX_PATH: resolve(dataDir, 'edge', `${id}-outbox.db`),
      QLY_LOG_LEVEL: process.env.QLY_EDGE_LOG_LEVEL ?? 'warn',
      // Video pushes and snapshots come back to the hub's own port.
      QLY_HUB_URL: `http://127.0.0.1:${port}`,
    },
  },
);
edge.on('exit', (code, signal) => app.log.warn({ code, signal }, 'simulated village edge agent exited'));

const admin = app.bootstrap.adminPassword
  ? `user "admin", password "${app.bootstrap.adminPassword}" (generated now, shown once)`
  : process.env.ADMIN_PASSWORD
    ? 'user "admin", password from ADMIN_PASSWORD'
    : `user "admin", the password printed on the first start (or delete ${resolve(dataDir)} to start over)`;
process.stdout.write(
  `\n  Qianliyan is running.\n  Dashboard: http://localhost:${port}/\n  Log in as ${admin}\n  MQTT broker (embedded): ${app.brokerConnection.url}\n  Simulated village "${site}" via gateway "${id}". Ctrl-C stops everything.\n\n`,
);

const stop = () => {
  edge.kill('SIGTERM');
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
