/** Opens the state DB and the time-series store under DATA_DIR; closes them when the app closes. */
import { join } from 'node:path';
import fp from 'fastify-plugin';
import { SqliteTimeSeriesStore } from '../stores/sqlite-timeseries.ts';
import { StateDb } from '../stores/state-db.ts';
import type { TimeSeriesStore } from '../stores/timeseries.ts';

declare module 'fastify' {
  interface FastifyInstance {
    stateDb: StateDb;
    timeseries: TimeSeriesStore;
  }
}

export const storesPlugin = fp(
  async (app) => {
    const stateDb = new StateDb(join(app.config.dataDir, 'state.db'));
    const timeseries = new SqliteTimeSeriesStore(join(app.config.dataDir, 'timeseries.db'));
    app.decorate('stateDb', stateDb);
    app.decorate('timeseries', timeseries);
    app.addHook('onClose', async () => {
      await timeseries.close();
      stateDb.close();
    });
  },
  { name: 'stores' },
);
