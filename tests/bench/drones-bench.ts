/**
 * `npm run bench:drones` — DRONES simulated drones at HZ through the full pipeline: MAVLink simulators
 * (their own process) → UDP → one edge agent process running a `mavlink-drone` adapter per drone,
 * uploading at HZ → the hub process's embedded broker → ingest, store, registry → socket.io to a
 * dashboard socket. Measures, over SECONDS after a warm-up: CPU per drone of the edge agent and of
 * the hub (percent of one core, from /proc), and publish→dashboard latency (telemetry timestamp set
 * when the agent publishes, to the delta's arrival). Ends with one JSON line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { EdgeProcess } from '../support/edge.ts';
import { HubProcess } from '../support/hub-process.ts';
import { freePort, sleep, waitFor } from '../support/wait.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DRONES = Number(process.env.BENCH_DRONES ?? 20);
const HZ = Number(process.env.BENCH_HZ ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const WARMUP_SECONDS = 5;
const SITE = 'bench-air';
const GW = 'gw-air-bench';

function cpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

const children: ChildProcess[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'qly-bench-drones-'));
const [httpPort, mqttPort, udpPort] = [await freePort(), await freePort(), await freePort()];
const hub = new HubProcess(
  dataDir,
  {
    host: '127.0.0.1',
    port: httpPort,
    logLevel: 'warn',
    auth: { scryptLog2N: 12 },
    mqtt: { embeddedHost: '127.0.0.1', embeddedPort: mqttPort },
  },
  { ADMIN_PASSWORD: 'bench-admin-password' },
);
let edge: EdgeProcess | undefined;
try {
  await hub.start();
  const base = `http://127.0.0.1:${httpPort}`;
  const { token } = (await (
    await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }),
    })
  ).json()) as { token: string };
  const { password } = (await (
    await fetch(`${base}/api/gateways`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ id: GW, site: SITE }),
    })
  ).json()) as { password: string };

  edge = new EdgeProcess(
    {
      gateway: { id: GW, site: SITE },
      mqtt: { url: `mqtt://127.0.0.1:${mqttPort}` },
      logLevel: 'warn',
      devices: Array.from({ length: DRONES }, (_, i) => ({
        type: 'mavlink-drone',
        id: `uav-${i + 1}`,
        name: `Drone ${i + 1}`,
        sysid: i + 1,
        link: `udpin://127.0.0.1:${udpPort}`,
        // Every simulator sends from its own port of this host.
        peer: '127.0.0.1',
        position: { lat: 30.042, lon: 119.951 },
        uplinkHz: HZ,
      })),
    },
    password,
  );
  edge.start();
  const sims = spawn(
    process.execPath,
    ['--import', 'tsx', 'tests/bench/drone-sims.ts', String(udpPort), String(DRONES), String(HZ)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(sims);
  let simOut = '';
  sims.stdout?.on('data', (d) => {
    simOut += d;
  });
  await waitFor('simulators ready', () => simOut.includes('ready'), 60_000);

  const latencies: number[] = [];
  let measuring = false;
  let updates = 0;
  const socket = io(base, { path: '/socket.io', auth: { token }, transports: ['websocket'] });
  socket.on('connect', () => socket.emit('subscribe', {}));
  socket.on('delta', (delta: { devices: Array<{ kind: string; valuesTs: number | null }> }) => {
    const now = Date.now();
    for (const d of delta.devices) {
      if (d.kind !== 'drone' || !d.valuesTs) continue;
      updates += 1;
      if (measuring) latencies.push(now - d.valuesTs);
    }
  });
  await waitFor(`${DRONES} drones updating`, () => updates > DRONES * HZ, 60_000);
  await sleep(WARMUP_SECONDS * 1000);

  const edgeBefore = cpuSeconds(edge.pid);
  const hubBefore = cpuSeconds(hub.pid);
  const updatesBefore = updates;
  const started = Date.now();
  measuring = true;
  await sleep(SECONDS * 1000);
  measuring = false;
  const elapsed = (Date.now() - started) / 1000;
  const edgePct = ((cpuSeconds(edge.pid) - edgeBefore) / elapsed / DRONES) * 100;
  const hubPct = ((cpuSeconds(hub.pid) - hubBefore) / elapsed / DRONES) * 100;
  const rate = (updates - updatesBefore) / elapsed;
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(
    `${DRONES} drones at ${HZ} Hz: ${rate.toFixed(0)} drone updates/s reached the dashboard socket (${(DRONES * HZ).toFixed(0)} expected)`,
  );
  console.log(
    `publish→dashboard latency: p50 ${p50} ms, p99 ${p99} ms (target < 100 ms) over ${latencies.length} updates`,
  );
  console.log(`CPU per drone: edge agent ${edgePct.toFixed(2)} %, hub ${hubPct.toFixed(2)} % of one core`);
  socket.disconnect();
  console.log(
    JSON.stringify({
      bench: 'drones',
      drones: DRONES,
      hz: HZ,
      p50_ms: p50,
      p99_ms: p99,
      edge_cpu_pct_per_drone: Number(edgePct.toFixed(2)),
      hub_cpu_pct_per_drone: Number(hubPct.toFixed(2)),
      updates_per_s: Math.round(rate),
    }),
  );
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await edge?.stop('SIGTERM');
  await hub.stop('SIGTERM');
}
process.exit(0);
