/**
 * The benchmark's baseline consumer: a bare MQTT subscriber (QoS 1, like the hub) that only counts.
 * Runs as its own process; prints one JSON line when it has `expected` messages or on SIGTERM.
 */
import mqtt from 'mqtt';

const [url, username, password, expectedArg] = process.argv.slice(2) as [string, string, string, string];
const expected = Number(expectedArg);
let count = 0;
let first = 0;
let last = 0;
const client = await mqtt.connectAsync(url, {
  protocolVersion: 4,
  clientId: `bench-raw-${process.pid}`,
  username,
  password,
  clean: true,
});
await client.subscribeAsync('qly/v1/#', { qos: 1 });
const report = () => {
  process.stdout.write(`${JSON.stringify({ count, first, last })}\n`);
  void client.endAsync(true).then(() => process.exit(0));
};
client.on('message', () => {
  const now = Date.now();
  if (count === 0) first = now;
  count += 1;
  last = now;
  if (count === expected) report();
});
process.on('SIGTERM', report);
process.stdout.write('ready\n');
