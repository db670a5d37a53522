/**
 * One benchmark publisher process, speaking as one gateway: prints `ready`, waits for a line on
 * stdin, then publishes `count` contract telemetry messages (seq `fromSeq`…) at QoS 1 with WINDOW
 * in flight, and prints `done` when the broker has acknowledged all of them.
 */
import { topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';

const [url, site, gateway, password, fromSeqArg, countArg] = process.argv.slice(2) as string[];
const fromSeq = Number(fromSeqArg);
const count = Number(countArg);
const DEVICES = 100;
const WINDOW = 500;

const client = await mqtt.connectAsync(url as string, {
  protocolVersion: 4,
  clientId: gateway as string,
  username: gateway,
  password,
});
process.stdout.write('ready\n');
await new Promise((r) => process.stdin.once('data', r));
let inflight = 0;
let seq = fromSeq;
const end = fromSeq + count;
await new Promise<void>((resolve) => {
  const pump = () => {
    while (inflight < WINDOW && seq < end) {
      const s = seq++;
      inflight++;
      const payload = JSON.stringify({
        seq: s,
        epoch: `bench-${gateway}`,
        ts: Date.now(),
        values: { v: s % 1000, temperature: 20 + (s % 10) / 10 },
      });
      client.publish(
        topics.telemetry(site as string, gateway as string, `d${s % DEVICES}`),
        payload,
        { qos: 1 },
        () => {
          inflight--;
          if (seq >= end && inflight === 0) resolve();
          else pump();
        },
      );
    }
  };
  pump();
});
process.stdout.write('done\n');
await client.endAsync();
