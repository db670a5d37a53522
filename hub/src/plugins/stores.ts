/**
 * Opens the state DB (SQLite under DATA_DIR, or PostgreSQL) and the time-series store (SQLite under
 * DATA_DIR, or InfluxDB with its spool there); closes them when the app closes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteLevel } from '@qianliyan/protocols';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { SiteTree } from '../services/site-tree.ts';
import { InfluxTimeSeriesStore } from '../stores/influx-timeseries.ts';
import { PostgresDatabase } from '../stores/sql.ts';
import { SqliteTimeSeriesStore } from '../stores/sqlite-timeseries.ts';
import { StateDb } from '../stores/state-db.ts';
import type { TimeSeriesStore } from '../stores/timeseries.ts';

declare module 'fastify' {
  interface FastifyInstance {
    stateDb: StateDb;
    siteTree: SiteTree;
    timeseries: TimeSeriesStore;
  }
}

export const storesPlugin = fp(
  async (app) => {
    const stateDb = new StateDb(
      app.config.state.backend === 'postgres' ? openPostgres(app) : join(app.config.dataDir, 'state.db'),
    );
    const config = app.config.timeseries;
    const timeseries: TimeSeriesStore = config.backend === 'influxdb' ? openInflux(app) : openSqlite(app);
    app.decorate('stateDb', stateDb);
    const siteTree = new SiteTree(stateDb.handle);
    // The first start seeds the hierarchy from the config; afterwards it is managed through /api/sites.
    const seed = app.config.sites.filter((s) => s.level);
    if (siteTree.size === 0 && seed.length > 0)
      siteTree.upsert(
        seed.map((s) => ({
          id: s.id,
          name: s.name,
          level: s.level as SiteLevel,
          parent: s.parent ?? null,
          ...(s.center ? { center: s.center } : {}),
        })),
      );
    app.decorate('siteTree', siteTree);
    app.decorate('timeseries', timeseries);
    app.addHook('onClose', async () => {
      await timeseries.close();
      stateDb.close();
    });
  },
  { name: 'stores' },
);

function openPostgres(app: FastifyInstance): PostgresDatabase {
  const c = app.config.state.postgres;
  const db = new PostgresDatabase({
    url: c.url,
    ...(c.passwordFile ? { password: readFileSync(c.passwordFile, 'utf8').trim() } : {}),
    statementTimeoutMs: c.statementTimeoutMs,
    connectTimeoutS: c.connectTimeoutS,
    applicationName: `qly-${app.config.cluster.hubId}`,
  });
  const url = new URL(c.url);
  app.log.info({ host: url.host, database: url.pathname.slice(1) }, 'state in PostgreSQL');
  return db;
}

function openSqlite(app: FastifyInstance): SqliteTimeSeriesStore {
  const { fsync, retention } = app.config.timeseries;
  return new SqliteTimeSeriesStore(join(app.config.dataDir, 'timeseries.db'), { fsync, retention });
}

function openInflux(app: FastifyInstance): InfluxTimeSeriesStore {
  const c = app.config.timeseries.influxdb;
  const m = app.metrics;
  const log = app.log.child({ component: 'influxdb' });
  const store = new InfluxTimeSeriesStore(
    { ...c, spoolPath: join(app.config.dataDir, 'influx-spool.db') },
    {
      log,
      onSent: (n) => m.influxSent.inc(n),
      onDropped: (reason, n) => m.influxDropped.inc({ reason }, n),
      onSendError: (reason) => m.influxSendErrors.inc({ reason }),
      onOverflow: (n) => m.influxOverflow.inc(n),
    },
  );
  const gauge = setInterval(() => m.influxBuffered.set(store.buffered), 1000);
  gauge.unref();
  app.addHook('onClose', async () => clearInterval(gauge));
  log.info({ url: c.url, database: c.database }, 'time series in InfluxDB');
  return store;
}
