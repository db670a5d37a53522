/** Provisioning from the hub (enrolment, desired devices, fleet), started with the hub. */
import fp from 'fastify-plugin';
import { issueGatewayCredentials } from '../services/gateway-credentials.ts';
import { ProvisioningService } from '../services/provisioning.ts';
import { ProvisioningStore } from '../stores/provisioning-store.ts';

declare module 'fastify' {
  interface FastifyInstance {
    provisioning: ProvisioningService;
  }
}

export const provisioningPlugin = fp(
  async (app) => {
    const provisioning = new ProvisioningService(
      {
        state: app.stateDb,
        store: new ProvisioningStore(app.stateDb.handle),
        registry: app.registry,
        bus: app.bus,
        audit: app.audit,
        metrics: app.metrics,
        mqtt: app.mqtt,
        log: app.log.child({ module: 'provisioning' }),
        register: (id, site) => {
          app.stateDb.upsertGateway(id, site, null);
          app.ingest.refreshGateways();
          app.registry.registerGateway(id, site);
          app.bus.emit('gatewayRegistered', { id, site });
        },
        issueCredentials: (id, site) => issueGatewayCredentials(app, id, site),
      },
      {
        codeTtlMinutes: app.config.provisioning.codeTtlMinutes,
        minAgentVersion: app.config.fleet.minAgentVersion,
      },
    );
    app.decorate('provisioning', provisioning);
    app.addHook('onReady', async () => provisioning.start());
    // A retired gateway leaves no codes, versions, reports or retained config behind.
    app.addHook('onReady', async () => {
      app.bus.on('gatewayRemoved', 'provisioning', ({ id, site, remote }) => {
        if (!remote) provisioning.forget(id, site);
      });
    });
  },
  { name: 'provisioning', dependencies: ['ingest', 'auth'] },
);
