/**
 * `npm run bench:alarms` — the alarm centre under load, through a real hub process (embedded
 * broker, SQLite) and gateway processes speaking the MQTT contract:
 *
 * - DEVICES sensors at one reading a second (gateways of up to 2,000 devices each);
 * - hub CPU per message measured twice in the same run: first without rules (the baseline), then
 *   with RULES threshold rules (one per device, on the field every reading carries) — the ratio;
 * - reading over the threshold → alarm on a dashboard socket, p99 (each on another device);
 * - a gateway's "device unreachable" report → health alarm on the socket, p99. (The agent's own
 *   detection, two failed checks — at most twice its health interval — comes before it; the bench
 *   measures what the hub adds, whose budget is the remaining 1 s: tests/alarm-health.test.ts
 *   checks the whole way with a real camera simulator);
 * - alarm → webhook received by a local HTTP server (signed), p99.
 *
 * Prints each figure, ratios against the baseline, and ends with the JSON line of issue 20.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AlarmView } from '@qianliyan/protocols';
import { io } from 'socket.io-client';
import { BenchHub } from '../support/bench-hub.ts';
import { freePort, sleep, waitFor } from '../support/wait.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const RULES = Math.min(DEVICES, Number(process.env.BENCH_RULES ?? 1000));
const MEASURE_S = Number(process.env.BENCH_MEASURE_S ?? 15);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40);
const PER_GATEWAY = 2000;
const SITE = 'bench-alarms';
const THRESHOLD = 3;

const gatewayCount = Math.ceil(DEVICES / PER_GATEWAY);
const gateways = Array.from({ length: gatewayCount }, (_, i) => ({
  id: `gw-alarm-${i + 1}`,
  devices: Math.min(PER_GATEWAY, DEVICES - i * PER_GATEWAY),
}));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function cpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const p99 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? Number.NaN;
};

// The webhook receiver: when each alarm's notification arrived.
const webhookAt = new Map<number, number>();
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => {
    body += c;
  });
  req.on('end', () => {
    const { alarm } = JSON.parse(body) as { alarm: AlarmView };
    if (!webhookAt.has(alarm.id)) webhookAt.set(alarm.id, Date.now());
    res.end();
  });
});
const webhookPort = await freePort();
await new Promise<void>((r) => receiver.listen(webhookPort, '127.0.0.1', () => r()));

const dir = mkdtempSync(join(tmpdir(), 'qly-alarms-bench-'));
writeFileSync(join(dir, 'hook.key'), 'bench-webhook-key');
const hub = await BenchHub.start(dir, {
  limits: { gatewayMessagesPerSecond: 10_000 },
  alarms: { healthStartupGraceMs: 0, renotifyAfterMs: 0, escalateAfterMs: 0 },
  notifications: {
    channels: [
      {
        id: 'hook',
        type: 'webhook',
        url: `http://127.0.0.1:${webhookPort}/`,
        secretFile: join(dir, 'hook.key'),
      },
    ],
    ratePerMinute: 100_000,
  },
});
const hubPid = hub.process.pid;

const publishers = new Map<string, { proc: ChildProcess; sent: Map<string, number> }>();
for (const gw of gateways) {
  const password = await hub.registerGateway(gw.id, SITE);
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'tests/bench/alarms-publisher.ts',
      hub.mqttUrl,
      SITE,
      gw.id,
      password,
      String(gw.devices),
    ],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  children.push(proc);
  const sent = new Map<string, number>();
  let buf = '';
  let ready = false;
  proc.stdout?.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'ready') ready = true;
      const m = /^sent (\S+) (\d+)$/.exec(line);
      if (m) sent.set(m[1] as string, Number(m[2]));
    }
  });
  await waitFor(`${gw.id} described`, () => ready, 120_000);
  publishers.set(gw.id, { proc, sent });
}
const devicesAtHub = async () => (await hub.api<unknown[]>('/api/devices')).length;
await waitFor('every device registered', async () => (await devicesAtHub()) >= DEVICES, 120_000, 500);
console.log(`${DEVICES} devices on ${gatewayCount} gateways, one reading a second each`);

// A dashboard socket (the administrator's) that times alarms as they arrive.
const alarmAt = new Map<string, { at: number; alarm: AlarmView }>();
const socket = io(hub.base, { auth: { token: hub.token }, transports: ['websocket'] });
socket.on('alarm', (a: AlarmView) => {
  const key = `${a.device}|${a.type}`;
  if (a.state === 'active' && !alarmAt.has(key)) alarmAt.set(key, { at: Date.now(), alarm: a });
});
await new Promise<void>((r) => socket.once('connect', () => r()));
socket.emit('subscribe', { brief: true });

const telemetryCount = () => hub.metricValue('qly_ingest_messages_total', { kind: 'telemetry' });
async function measure(label: string): Promise<{ rate: number; cpuUsPerMsg: number }> {
  await sleep(3000); // settle
  const m0 = await telemetryCount();
  const c0 = cpuSeconds(hubPid);
  const t0 = Date.now();
  await sleep(MEASURE_S * 1000);
  const m1 = await telemetryCount();
  const c1 = cpuSeconds(hubPid);
  const seconds = (Date.now() - t0) / 1000;
  const rate = (m1 - m0) / seconds;
  const cpuUsPerMsg = ((c1 - c0) * 1e6) / (m1 - m0);
  console.log(
    `${label}: ${rate.toFixed(0)} readings/s, hub CPU ${(((c1 - c0) / seconds) * 100).toFixed(0)} % of a core, ${cpuUsPerMsg.toFixed(1)} µs per reading`,
  );
  return { rate, cpuUsPerMsg };
}

// Warm up first (JIT, SQLite pages, socket buffers), so the baseline is not charged for it.
await sleep(MEASURE_S * 1000);
const baseline = await measure('without rules (baseline)');

const keyOf = (i: number) => `${gateways[Math.floor(i / PER_GATEWAY)]?.id}.d${i % PER_GATEWAY}`;
const t = Date.now();
for (let i = 0; i < RULES; i++)
  await hub.api('/api/alarm-rules', {
    name: `bench ${i}`,
    scope: { device: keyOf(i) },
    condition: { type: 'threshold', field: 'level', op: 'above', value: THRESHOLD, hysteresis: 0.5 },
    severity: 'alarm',
  });
console.log(`${RULES} rules created in ${((Date.now() - t) / 1000).toFixed(1)} s`);
await hub.api('/api/notifications/subscriptions', { channel: 'hook', minSeverity: 'alarm' });
const withRules = await measure(`with ${RULES} rules`);
const cpuRatio = withRules.cpuUsPerMsg / baseline.cpuUsPerMsg;

/** Sends a command to the device's publisher; resolves with when it was sent. */
async function command(cmd: 'cross' | 'offline', i: number, value = ''): Promise<number> {
  const gw = gateways[Math.floor(i / PER_GATEWAY)]?.id as string;
  const pub = publishers.get(gw) as { proc: ChildProcess; sent: Map<string, number> };
  const device = `d${i % PER_GATEWAY}`;
  pub.sent.delete(device);
  pub.proc.stdin?.write(`${cmd} ${device} ${value}\n`);
  return waitFor('sent', () => pub.sent.get(device), 10_000, 2);
}

const ruleLatency: number[] = [];
const notifyLatency: number[] = [];
const offlineLatency: number[] = [];
let missed = 0;
/** Waits for one sample; a sample that never comes is counted (and reported), not fatal. */
async function sample<T>(what: string, check: () => T | undefined): Promise<T | undefined> {
  try {
    return await waitFor(what, check, 10_000, 2);
  } catch {
    missed++;
    return undefined;
  }
}
for (let j = 0; j < SAMPLES; j++) {
  const i = Math.floor((j * RULES) / SAMPLES);
  const sentAt = await command('cross', i, String(THRESHOLD + 2));
  const got = await sample(
    'rule alarm',
    () => [...alarmAt].find(([k]) => k.startsWith(`${keyOf(i)}|rule.`))?.[1],
  );
  if (!got) continue;
  ruleLatency.push(got.at - sentAt);
  const hooked = await sample('webhook', () => webhookAt.get(got.alarm.id));
  if (hooked) notifyLatency.push(hooked - got.alarm.lastTs);
  await sleep(100);
}
for (let j = 0; j < SAMPLES; j++) {
  const i = Math.min(DEVICES - 1, RULES + Math.floor((j * (DEVICES - RULES)) / SAMPLES));
  const sentAt = await command('offline', i);
  const got = await sample(
    'health alarm',
    () => [...alarmAt].find(([k]) => k.startsWith(`${keyOf(i)}|health.`))?.[1],
  );
  if (got) offlineLatency.push(got.at - sentAt);
  await sleep(100);
}
if (missed > 0) console.log(`${missed} samples never arrived within 10 s (left out of the percentiles)`);

const result = {
  bench: 'alarms',
  devices: DEVICES,
  rules: RULES,
  cpu_ratio: Number(cpuRatio.toFixed(3)),
  rule_to_alarm_p99_ms: Math.round(p99(ruleLatency)),
  offline_to_alarm_p99_ms: Math.round(p99(offlineLatency)),
  notify_p99_ms: Math.round(p99(notifyLatency)),
};
console.log(
  `readings/s achieved: ${baseline.rate.toFixed(0)} without rules, ${withRules.rate.toFixed(0)} with (target ${DEVICES})`,
);
console.log(
  `hub CPU per reading: ${baseline.cpuUsPerMsg.toFixed(1)} µs → ${withRules.cpuUsPerMsg.toFixed(1)} µs; ratio ${cpuRatio.toFixed(3)} (target ≤ 1.3)`,
);
console.log(`reading → alarm on the dashboard p99: ${result.rule_to_alarm_p99_ms} ms (target < 1000)`);
console.log(
  `unreachable report → alarm on the dashboard p99: ${result.offline_to_alarm_p99_ms} ms (the hub's part of 2 × health interval + 1 s)`,
);
console.log(`alarm → webhook received p99: ${result.notify_p99_ms} ms (target < 2000)`);
socket.close();
for (const { proc } of publishers.values()) proc.stdin?.end();
await sleep(500);
await hub.stop();
receiver.close();
// Benches clean up what they create: the hub's data and the webhook key.
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(result));
process.exit(0);
