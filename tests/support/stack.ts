/**
 * A hub on a broker, for the suites that must pass on both brokers: the embedded aedes broker inside
 * the hub, and a real Mosquitto with password file and ACL. Gateways are provisioned on both sides.
 */
import mqtt from 'mqtt';
import { randomSecret } from '../../hub/src/security/passwords.ts';
import { startTestHub, type TestHub } from './hub.ts';
import { MosquittoBroker } from './mosquitto.ts';
import { MOSQUITTO, systemBinary } from './system.ts';

export type BrokerKind = 'embedded' | 'mosquitto';

export interface Stack {
  kind: BrokerKind;
  hub: TestHub;
  brokerUrl: string;
  mosquitto?: MosquittoBroker;
  /** Registers a gateway with the hub (and the broker's password file); returns its password. */
  gateway(id: string, site: string): Promise<string>;
  close(): Promise<void>;
}

/** A raw MQTT 3.1.1 connection speaking as a registered gateway (a second session of it). */
export function connectAsGateway(
  stack: Stack & { passwords: Map<string, string> },
  gateway: string,
  clientId: string,
) {
  return mqtt.connectAsync(stack.brokerUrl, {
    protocolVersion: 4,
    clientId,
    username: gateway,
    password: stack.passwords.get(gateway) as string,
  });
}

/** The broker kinds available here; mosquitto is missing only on a developer machine without it. */
export function brokerKinds(): BrokerKind[] {
  return systemBinary(MOSQUITTO, 'mosquitto') ? ['embedded', 'mosquitto'] : ['embedded'];
}

export async function startStack(
  kind: BrokerKind,
  gateways: Array<[id: string, site: string]>,
  hubConfig?: Record<string, unknown>,
): Promise<Stack & { passwords: Map<string, string> }> {
  const passwords = new Map<string, string>();
  if (kind === 'embedded') {
    const hub = await startTestHub(hubConfig ? { config: hubConfig } : {});
    for (const [id, site] of gateways) passwords.set(id, await hub.provisionGateway(id, site));
    return {
      kind,
      hub,
      brokerUrl: hub.brokerUrl,
      passwords,
      gateway: async (id, site) => {
        const pw = await hub.provisionGateway(id, site);
        passwords.set(id, pw);
        return pw;
      },
      close: () => hub.close(),
    };
  }
  const mosquitto = new MosquittoBroker();
  const hubPassword = randomSecret();
  mosquitto.addUser('qly-hub', hubPassword);
  for (const [id] of gateways) {
    const pw = randomSecret();
    passwords.set(id, pw);
    mosquitto.addUser(id, pw);
  }
  await mosquitto.start();
  const hub = await startTestHub({
    mqttUrl: mosquitto.url,
    mqttPassword: hubPassword,
    ...(hubConfig ? { config: hubConfig } : {}),
  });
  for (const [id, site] of gateways) await hub.provisionGateway(id, site, passwords.get(id));
  return {
    kind,
    hub,
    brokerUrl: mosquitto.url,
    mosquitto,
    passwords,
    gateway: async () => {
      throw new Error('add gateways before the Mosquitto stack starts');
    },
    close: async () => {
      await hub.close();
      await mosquitto.stop();
    },
  };
}
