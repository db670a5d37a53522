/**
 * A hub on a broker, for the suites that must pass on both brokers: the embedded aedes broker inside
 * the hub, and a real Mosquitto with password file and ACL. Gateways are provisioned on both sides.
 */
import mqtt from 'mqtt';
import { randomSecret } from '../../hub/src/security/passwords.ts';
import { startTestHub, type TestHub } from './hub.ts';
import { MosquittoBroker, type MosquittoOptions } from './mosquitto.ts';
import { MOSQUITTO, systemBinary } from './system.ts';
import { waitFor } from './wait.ts';

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

/**
 * A raw MQTT 3.1.1 connection speaking as a registered gateway. Its client id is the gateway's own
 * (both brokers bind the client id to the credential), so it takes over the gateway's session: stop
 * the gateway's uplink first.
 */
export function connectAsGateway(stack: Stack & { passwords: Map<string, string> }, gateway: string) {
  return mqtt.connectAsync(stack.brokerUrl, {
    protocolVersion: 4,
    clientId: gateway,
    username: gateway,
    password: stack.passwords.get(gateway) as string,
    reconnectPeriod: 0,
  });
}

/** The broker kinds available here; mosquitto is missing only on a developer machine without it. */
export function brokerKinds(): BrokerKind[] {
  return systemBinary(MOSQUITTO, 'mosquitto') ? ['embedded', 'mosquitto'] : ['embedded'];
}

/** Waits until a broker accepts a credential (Mosquitto reloads its password file asynchronously). */
export async function waitForCredential(url: string, username: string, password: string): Promise<void> {
  await waitFor(
    `broker accepts ${username}`,
    async () => {
      try {
        const probe = await mqtt.connectAsync(url, {
          protocolVersion: 4,
          clientId: username,
          username,
          password,
          reconnectPeriod: 0,
          connectTimeout: 2000,
        });
        await probe.endAsync();
        return true;
      } catch {
        return false;
      }
    },
    10_000,
    50,
  );
}

export interface StackOptions {
  hubConfig?: Record<string, unknown>;
  mosquitto?: MosquittoOptions;
  /** Collect the hub's log lines here. */
  logLines?: string[];
  /** Users added to Mosquitto's password file before it starts (e.g. a read-only probe). */
  mosquittoUsers?: Array<[string, string]>;
}

export async function startStack(
  kind: BrokerKind,
  gateways: Array<[id: string, site: string]>,
  options: StackOptions | Record<string, unknown> = {},
): Promise<Stack & { passwords: Map<string, string> }> {
  const {
    hubConfig,
    mosquitto: mosquittoOptions,
    logLines,
    mosquittoUsers = [],
  } = (
    'hubConfig' in options || 'mosquitto' in options || 'logLines' in options
      ? options
      : { hubConfig: options }
  ) as StackOptions;
  const passwords = new Map<string, string>();
  if (kind === 'embedded') {
    const hub = await startTestHub({
      ...(hubConfig ? { config: hubConfig } : {}),
      ...(logLines ? { logLines } : {}),
    });
    const stack: Stack & { passwords: Map<string, string> } = {
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
    for (const [id, site] of gateways) await stack.gateway(id, site);
    return stack;
  }
  const mosquitto = new MosquittoBroker(mosquittoOptions);
  const hubPassword = randomSecret();
  mosquitto.addUser('qly-hub', hubPassword);
  for (const [user, pw] of mosquittoUsers) mosquitto.addUser(user, pw);
  await mosquitto.start();
  const hub = await startTestHub({
    ...(logLines ? { logLines } : {}),
    mqttUrl: mosquitto.url,
    mqttPassword: hubPassword,
    config: {
      ...hubConfig,
      mqtt: {
        protocolVersion: 5,
        mosquitto: { passwordFile: mosquitto.passwordFile, pidFile: mosquitto.pidFile },
        ...(hubConfig?.mqtt as object),
      },
    },
  });
  const stack: Stack & { passwords: Map<string, string> } = {
    kind,
    hub,
    brokerUrl: mosquitto.url,
    mosquitto,
    passwords,
    gateway: async (id, site) => {
      // The hub writes the credential into Mosquitto's password file and signals it to reload.
      const pw = await hub.provisionGateway(id, site);
      passwords.set(id, pw);
      await waitForCredential(mosquitto.url, id, pw);
      return pw;
    },
    close: async () => {
      await hub.close();
      await mosquitto.stop();
    },
  };
  for (const [id, site] of gateways) await stack.gateway(id, site);
  return stack;
}
