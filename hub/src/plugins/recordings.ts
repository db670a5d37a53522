/**
 * Recording at the hub: the index of what each gateway holds (fed by the bus from ingest), and the
 * evidence service that pulls clips for alarms and incidents (hub/src/services/evidence.ts). Pulls
 * and expiry run on the hub holding the scheduler lease.
 */
import fp from 'fastify-plugin';
import { EvidenceService } from '../services/evidence.ts';
import { RecordingIndexStore } from '../services/recording-index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    recordingIndex: RecordingIndexStore;
    evidence: EvidenceService;
  }
}

export const recordingsPlugin = fp(
  async (app) => {
    const index = new RecordingIndexStore(app.stateDb.handle);
    const offs = [
      app.bus.on('recordingIndex', 'recordings', ({ site, gateway, device, index: report }) =>
        index.apply(site, gateway, device, report),
      ),
      app.bus.on('gatewayRemoved', 'recordings', ({ id }) => index.forgetGateway(id)),
    ];
    const evidence = new EvidenceService(
      app.stateDb.handle,
      app.config.dataDir,
      app.registry,
      index,
      app.commands,
      app.audit,
      app.bus,
      app.log.child({ module: 'evidence' }),
      { ...app.config.recording, clock: Date.now },
    );
    evidence.alarmOf = (id) => app.alarms.get(id);
    evidence.start(app.cluster.scheduler);
    app.decorate('recordingIndex', index);
    app.decorate('evidence', evidence);
    app.addHook('onClose', async () => {
      evidence.stop();
      for (const off of offs) off();
    });
  },
  { name: 'recordings', dependencies: ['ingest', 'alarms', 'auth', 'commands', 'incidents'] },
);
