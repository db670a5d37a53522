/**
 * `npm run bench:provision` (issue 22): gateways enrolled from one-time codes, then given devices
 * by the hub, through a real hub process (embedded broker) and real edge agents.
 *
 * - enrol → online: from the agent starting its enrolment (key pair, HTTPS/HTTP POST with the code)
 *   to the hub's fleet report showing it online; p50 and p95.
 * - config change → applied and reported on all: each gateway gets a version of
 *   `QLY_BENCH_DEVICES` (10) simulated sensors; the time from its PUT to the hub holding its
 *   `applied` report (read from GET /api/fleet, polled every 50 ms); p99, target < 5 s.
 * - the hub's CPU over the config phase (percent of one core).
 *
 * Scale: `QLY_BENCH_GATEWAYS` (default 100). The agents run in this process (one EdgeAgent each,
 * its own outbox, MQTT connection and key pair), not as 100 node processes: 100 processes of
 * ~70 MB and ~2 s of start-up CPU each do not fit beside the hub on the 2-core build machine, and
 * the figures measured are the hub's and the protocol's. Enrolments run 10 at a time.
 * Last line: `{"bench":"provision","gateways":…,"enroll_p50_ms":…,"enroll_p95_ms":…,"config_apply_p99_ms":…,…}`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ADAPTERS } from '../../edge-agent/src/adapters/registry.ts';
import { EdgeAgent } from '../../edge-agent/src/agent.ts';
import { loadEdgeConfig } from '../../edge-agent/src/config.ts';
import { DEV_ADAPTERS } from '../../edge-agent/src/dev-adapters/registry.ts';
import { enrol } from '../../edge-agent/src/provisioning/enrol.ts';
import { HubProcess } from '../support/hub-process.ts';
import { freePort } from '../support/wait.ts';

const GATEWAYS = Number(process.env.QLY_BENCH_GATEWAYS ?? 100);
const DEVICES = Number(process.env.QLY_BENCH_DEVICES ?? 10);
const SITE = 'demo-village';
const ADMIN_PASSWORD = 'bench-admin-password';
const registry = { ...ADAPTERS, ...DEV_ADAPTERS };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))] ?? Number.NaN;
};
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const dir = mkdtempSync(join(tmpdir(), 'qly-bench-provision-'));
mkdirSync(join(dir, 'hub'), { recursive: true });
const [httpPort, mqttPort] = [await freePort(), await freePort()];
const hub = new HubProcess(
  join(dir, 'hub'),
  {
    host: '127.0.0.1',
    port: httpPort,
    logLevel: 'warn',
    auth: { scryptLog2N: 12 },
    mqtt: { embeddedHost: '127.0.0.1', embeddedPort: mqttPort },
    provisioning: { enrolAttemptsPerMinute: 10_000 },
  },
  { ADMIN_PASSWORD },
);
await hub.start();
const base = `http://127.0.0.1:${httpPort}`;
const login = await fetch(`${base}/api/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
});
const { token } = (await login.json()) as { token: string };
const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
type Fleet = { gateways: Array<{ id: string; online: boolean; runningVersion: number | null }> };

const ids = Array.from({ length: GATEWAYS }, (_, i) => `gw-b${String(i + 1).padStart(3, '0')}`);
const codes = new Map<string, string>();
for (const id of ids)
  codes.set(id, (await api<{ code: string }>('POST', '/api/enrolments', { gateway: id, site: SITE })).code);

const log = pino({ level: 'silent' });
const agents: EdgeAgent[] = [];
const enrolStarted = new Map<string, number>();
const online = new Map<string, number>();
let watching = true;
/** One poller of the fleet report records when each gateway is first online / running a version. */
const running = new Map<string, Map<number, number>>();
const watcher = (async () => {
  while (watching) {
    const fleet = await api<Fleet>('GET', '/api/fleet');
    const now = Date.now();
    for (const g of fleet.gateways) {
      if (g.online && !online.has(g.id)) online.set(g.id, now);
      if (g.runningVersion !== null) {
        const seen = running.get(g.id) ?? new Map<number, number>();
        if (!seen.has(g.runningVersion)) seen.set(g.runningVersion, now);
        running.set(g.id, seen);
      }
    }
    await sleep(50);
  }
})();

const startAgent = async (id: string) => {
  const secretFile = join(dir, id, 'gateway-secret.json');
  enrolStarted.set(id, Date.now());
  const secret = await enrol({ hubUrl: base, code: codes.get(id) as string, secretFile });
  const config = loadEdgeConfig(
    undefined,
    {
      QLY_GATEWAY_ID: secret.gateway.id,
      QLY_SITE: secret.gateway.site,
      QLY_MQTT_URL: secret.mqtt.url,
      QLY_MQTT_PASSWORD: secret.mqtt.password,
      QLY_HUB_URL: secret.hubUrl,
      QLY_OUTBOX_PATH: join(dir, id, 'outbox.db'),
    },
    registry,
  );
  config.provisioning.settleMs = 3000;
  const agent = new EdgeAgent(config, log, registry, {
    keys: secret.keys,
    hubConfigPath: join(dir, id, 'hub-config.json'),
  });
  agents.push(agent);
  await agent.start();
};
const queue = [...ids];
await Promise.all(
  Array.from({ length: 10 }, async () => {
    for (let id = queue.shift(); id; id = queue.shift()) await startAgent(id);
  }),
);
const deadline = Date.now() + 60_000;
while (online.size < GATEWAYS && Date.now() < deadline) await sleep(100);
const enrolMs = ids
  .filter((id) => online.has(id))
  .map((id) => (online.get(id) as number) - (enrolStarted.get(id) as number));
console.log(`enrolled and online: ${enrolMs.length}/${GATEWAYS}`);

// The config phase: every gateway gets DEVICES sensors at once.
const cpu0 = cpuSeconds(hub.pid);
const t0 = Date.now();
const putAt = new Map<string, number>();
await Promise.all(
  ids.map(async (id, g) => {
    putAt.set(id, Date.now());
    await api('PUT', `/api/gateways/${id}/config`, {
      devices: Array.from({ length: DEVICES }, (_, d) => ({
        type: 'sim-sensor',
        id: `s${d + 1}`,
        name: `sensor ${g + 1}.${d + 1}`,
        position: { lat: 30.042 + d * 0.0001, lon: 119.951 + (g % 10) * 0.0001 },
        intervalMs: 5000,
      })),
    });
  }),
);
const applyDeadline = Date.now() + 60_000;
const applied = () => ids.filter((id) => running.get(id)?.has(1)).length;
while (applied() < GATEWAYS && Date.now() < applyDeadline) await sleep(50);
const seconds = (Date.now() - t0) / 1000;
const cpu1 = cpuSeconds(hub.pid);
watching = false;
await watcher;
const applyMs = ids
  .filter((id) => running.get(id)?.has(1))
  .map((id) => (running.get(id)?.get(1) as number) - (putAt.get(id) as number));

const result = {
  bench: 'provision',
  gateways: GATEWAYS,
  devices_per_gateway: DEVICES,
  enrolled: enrolMs.length,
  enroll_p50_ms: Math.round(pct(enrolMs, 0.5)),
  enroll_p95_ms: Math.round(pct(enrolMs, 0.95)),
  applied: applyMs.length,
  config_apply_p99_ms: Math.round(pct(applyMs, 0.99)),
  hub_cpu_pct: Math.round(((cpu1 - cpu0) / seconds) * 100),
};
console.log(
  `config → applied and reported on ${applyMs.length}/${GATEWAYS}: p50 ${Math.round(pct(applyMs, 0.5))} ms, p99 ${result.config_apply_p99_ms} ms (target < 5000)`,
);
console.log(`hub CPU during the config phase: ${result.hub_cpu_pct} % of a core`);
await Promise.allSettled(agents.map((a) => a.stop(0)));
await hub.stop();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(result));
process.exit(0);
