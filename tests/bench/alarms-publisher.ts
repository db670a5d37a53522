/**
 * One gateway of the alarms benchmark, in its own process: describes `devices` sensors (retained
 * meta), then sends each one reading a second (`level`, well below every rule's threshold), spread
 * evenly over the second, at QoS 1. Commands on stdin, one per line:
 * `cross DEVICE VALUE` sends that reading now, `offline DEVICE` reports the device unreachable;
 * each answers `sent DEVICE TS` on stdout. Prints `ready` once described.
 */
import { topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';

const [url, site, gateway, password, devicesArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const DEVICES = Number(devicesArg);
const epoch = `bench-${gateway}-${Date.now()}`.slice(0, 40);
let controlSeq = 0;
let bulkSeq = 0;

const client = await mqtt.connectAsync(url, {
  protocolVersion: 4,
  clientId: gateway,
  username: gateway,
  password,
});
const publish = (topic: string, body: object, bulk: boolean, retain = false) =>
  client.publishAsync(
    topic,
    JSON.stringify({ seq: bulk ? ++bulkSeq : ++controlSeq, epoch, ts: Date.now(), ...body }),
    { qos: 1, retain },
  );
const ids = Array.from({ length: DEVICES }, (_, i) => `d${i}`);
await publish(topics.state(site, gateway), { online: true, heartbeatMs: 30_000, devices: ids }, false, true);
for (const id of ids)
  await publish(
    topics.meta(site, gateway, id),
    {
      kind: 'sensor',
      name: `水位 ${id}`,
      position: { lat: 30 + Math.random() * 0.05, lon: 120 + Math.random() * 0.05 },
      capabilities: ['telemetry.level'],
    },
    false,
    true,
  );
process.stdout.write('ready\n');

// Every 50 ms a twentieth of the devices: one reading per device per second. At most WINDOW
// readings in flight: a publisher that cannot keep up (a loaded machine) skips readings rather than
// queueing them, so a crossing is never stuck behind seconds of backlog (the rate achieved is
// what the bench reports).
const SLICES = 20;
const WINDOW = 1000;
let inflight = 0;
let skipped = 0;
let slice = 0;
const timer = setInterval(() => {
  for (let i = slice; i < DEVICES; i += SLICES) {
    if (inflight >= WINDOW) {
      skipped++;
      continue;
    }
    inflight++;
    client.publish(
      topics.telemetry(site, gateway, ids[i] as string),
      `{"seq":${++bulkSeq},"epoch":"${epoch}","ts":${Date.now()},"values":{"level":${(1 + Math.random() * 0.2).toFixed(3)}}}`,
      { qos: 1 },
      () => {
        inflight--;
      },
    );
  }
  slice = (slice + 1) % SLICES;
}, 1000 / SLICES);

let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  const lines = buf.split('\n');
  buf = lines.pop() ?? '';
  for (const line of lines) {
    const [cmd, device, value] = line.trim().split(' ');
    if (!device) continue;
    const ts = Date.now();
    if (cmd === 'cross')
      void publish(topics.telemetry(site, gateway, device), { values: { level: Number(value) } }, true);
    else if (cmd === 'offline')
      void publish(
        topics.availability(site, gateway, device),
        { online: false, reason: 'MODBUS_TIMEOUT: bench' },
        false,
        true,
      );
    process.stdout.write(`sent ${device} ${ts}\n`);
  }
});
process.stdin.on('end', async () => {
  clearInterval(timer);
  process.stderr.write(`${gateway}: ${skipped} readings skipped (publisher behind)\n`);
  await client.endAsync();
  process.exit(0);
});
