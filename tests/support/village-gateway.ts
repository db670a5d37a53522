/**
 * A village gateway speaking the real MQTT contract from inside a test: registered with the hub,
 * online (a retained heartbeat), its devices described, and every command the hub sends it recorded
 * so the test can answer it (or not). Used where a test plays the gateway's part precisely — a
 * speaker for a live talk, a camera whose snapshot upload the test controls — without starting an
 * edge agent process.
 */
import { type Command, topics } from '@qianliyan/protocols';
import mqtt, { type MqttClient } from 'mqtt';
import type { TestHub } from './hub.ts';
import { waitFor } from './wait.ts';

export interface VillageGateway {
  id: string;
  site: string;
  password: string;
  client: MqttClient;
  /** Every command received, oldest first. */
  commands: Command[];
  /** `Basic …` for the gateway's HTTP(S) routes (push, snapshot upload, talk). */
  basicAuth: string;
  waitForCommand(what: string, match: (c: Command) => boolean, timeoutMs?: number): Promise<Command>;
  answer(id: string, data?: unknown): Promise<void>;
  close(): Promise<void>;
}

/** A speaker (takes broadcasts). */
export const speakerMeta = (name: string) => ({
  kind: 'speaker',
  name,
  position: { lat: 30.1, lon: 120.1 },
  capabilities: ['cmd.speaker.play', 'cmd.speaker.stop'],
});

/** A camera with a sub stream and snapshots (pushed by its gateway). */
export const cameraMeta = (name: string) => ({
  kind: 'camera',
  name,
  position: { lat: 30.1, lon: 120.1 },
  capabilities: ['video', 'cmd.stream.start', 'cmd.stream.stop', 'cmd.camera.snapshot'],
  streams: [{ name: 'sub', codec: 'h264', width: 640, height: 360 }],
});

export async function startVillageGateway(
  hub: TestHub,
  id: string,
  site: string,
  devices: Record<string, object>,
): Promise<VillageGateway> {
  const password = await hub.provisionGateway(id, site);
  const client = await mqtt.connectAsync(hub.brokerUrl, {
    protocolVersion: 4,
    clientId: id,
    username: id,
    password,
    reconnectPeriod: 0,
  });
  client.on('error', () => {});
  const epoch = `test-${id}`;
  let seq = 0;
  const publish = (topic: string, body: object, retain = false) =>
    client.publishAsync(topic, JSON.stringify({ seq: ++seq, epoch, ts: Date.now(), ...body }), {
      qos: 1,
      retain,
    });
  const commands: Command[] = [];
  client.on('message', (topic, payload) => {
    if (topic === topics.cmd(site, id)) commands.push(JSON.parse(payload.toString()) as Command);
  });
  await client.subscribeAsync(topics.cmd(site, id), { qos: 1 });
  await publish(
    topics.state(site, id),
    { online: true, heartbeatMs: 60_000, devices: Object.keys(devices) },
    true,
  );
  for (const [device, meta] of Object.entries(devices))
    await publish(topics.meta(site, id, device), meta, true);
  await waitFor(`${id}'s devices registered`, () =>
    Object.keys(devices).every((d) => hub.app.registry.getDevice(`${id}.${d}`)),
  );
  return {
    id,
    site,
    password,
    client,
    commands,
    basicAuth: `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}`,
    waitForCommand: (what, match, timeoutMs = 10_000) => waitFor(what, () => commands.find(match), timeoutMs),
    answer: async (commandId, data) => {
      await publish(topics.cmdResult(site, id), { id: commandId, status: 'ok', ...(data ? { data } : {}) });
    },
    close: () => client.endAsync(true),
  };
}
