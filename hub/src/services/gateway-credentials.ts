/**
 * Gateway onboarding in one place: issue (or re-issue) a gateway's credential, or delete the gateway
 * with its devices. The hub keeps a hash of the credential for the embedded broker and, when it runs
 * against Mosquitto with `mqtt.mosquitto.passwordFile`, writes it into Mosquitto's password file as
 * well. Either way the gateway's live session ends when its credential changes
 * (`gatewayCredentialsChanged` on the bus; Mosquitto disconnects on reload).
 */
import type { FastifyInstance } from 'fastify';
import { hashSecret, randomSecret } from '../security/passwords.ts';

export async function issueGatewayCredentials(
  app: FastifyInstance,
  id: string,
  site: string,
  password = randomSecret(),
): Promise<string> {
  const existed = app.stateDb.getGateway(id) !== undefined;
  app.stateDb.upsertGateway(id, site, hashSecret(password));
  app.mosquittoPasswords?.set(id, password);
  app.ingest.refreshGateways();
  app.registry.registerGateway(id, site);
  app.bus.emit('gatewayRegistered', { id, site });
  if (existed) app.bus.emit('gatewayCredentialsChanged', { id });
  return password;
}

/** Deletes a gateway: its credential, its devices and its dedup windows. Its stored history stays. */
export async function deleteGateway(app: FastifyInstance, id: string): Promise<{ devices: string[] } | null> {
  const gateway = app.stateDb.getGateway(id);
  if (!gateway) return null;
  app.stateDb.deleteGateway(id);
  app.mosquittoPasswords?.remove(id);
  app.bus.emit('gatewayCredentialsChanged', { id });
  const devices = app.registry.removeGateway(id);
  app.ingest.forgetGateway(id);
  await app.timeseries.forgetGateway(id);
  app.bus.emit('gatewayRemoved', { id, site: gateway.site, devices });
  return { devices };
}
