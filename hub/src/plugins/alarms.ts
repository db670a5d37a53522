/** The alarm service, fed by device events on the bus. */
import fp from 'fastify-plugin';
import { AlarmService } from '../services/alarms.ts';

declare module 'fastify' {
  interface FastifyInstance {
    alarms: AlarmService;
  }
}

export const alarmsPlugin = fp(
  async (app) => {
    const alarms = new AlarmService(app.stateDb.handle, app.bus, app.log.child({ module: 'alarms' }));
    alarms.start();
    app.decorate('alarms', alarms);
  },
  { name: 'alarms', dependencies: ['ingest'] },
);
