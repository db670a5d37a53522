/** Issues (or re-issues) a gateway's MQTT credentials and makes the gateway known to ingest and the map. */
import type { FastifyInstance } from 'fastify';
import { hashPassword, randomSecret } from '../security/passwords.ts';

export async function issueGatewayCredentials(
  app: FastifyInstance,
  id: string,
  site: string,
  password = randomSecret(),
): Promise<string> {
  app.stateDb.upsertGateway(id, site, await hashPassword(password));
  app.ingest.refreshGateways();
  app.registry.registerGateway(id, site);
  return password;
}
