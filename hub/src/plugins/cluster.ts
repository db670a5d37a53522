/**
 * The hub as one of several (`cluster.redisUrl` set): leases in PostgreSQL for the work only one hub
 * may do, and the ingest claims connection (cluster/ingest-claims.ts). Without it (the default, one
 * hub on SQLite) every lease is this hub's and nothing here touches the network.
 *
 * Scheduled work — SLA timers and escalations, broadcast schedules, alarm and session pruning, claim
 * pruning — runs on the hub holding the `scheduler` lease; the others check every
 * `cluster.slotPollMs` and one takes over within that time when the holder dies.
 */
import { readFileSync } from 'node:fs';
import fp from 'fastify-plugin';
import { IngestClaims } from '../cluster/ingest-claims.ts';
import { type Leases, LocalLeases, PostgresLeases } from '../cluster/leases.ts';
import { PostgresDatabase } from '../stores/sql.ts';

declare module 'fastify' {
  interface FastifyInstance {
    cluster: {
      /** Several hubs share the state, the broker and the time series. */
      enabled: boolean;
      hubId: string;
      leases: Leases;
      /** Cluster only: exact deduplication across hubs. */
      claims: IngestClaims | undefined;
      /** Whether this hub does the cluster's scheduled work now. */
      scheduler(): boolean;
    };
  }
}

export const SCHEDULER_LEASE = 'scheduler';

export const clusterPlugin = fp(
  async (app) => {
    const { cluster, state } = app.config;
    const enabled = Boolean(cluster.redisUrl);
    const log = app.log.child({ module: 'cluster' });
    let leases: Leases = new LocalLeases();
    let claims: IngestClaims | undefined;
    let claimsDb: PostgresDatabase | undefined;
    if (enabled) {
      const pg = {
        url: state.postgres.url,
        ...(state.postgres.passwordFile
          ? { password: readFileSync(state.postgres.passwordFile, 'utf8').trim() }
          : {}),
        statementTimeoutMs: state.postgres.statementTimeoutMs,
        connectTimeoutS: state.postgres.connectTimeoutS,
      };
      leases = new PostgresLeases(pg, cluster.hubId, log);
      claimsDb = new PostgresDatabase({ ...pg, applicationName: `qly-${cluster.hubId}-ingest` });
      claims = new IngestClaims(claimsDb);
      const poll = () => {
        leases.check();
        leases.tryTake(SCHEDULER_LEASE);
      };
      poll();
      const timer = setInterval(poll, cluster.slotPollMs);
      timer.unref();
      // Claims older than the retention: one hub, hourly.
      const prune = setInterval(() => {
        if (!leases.holds(SCHEDULER_LEASE)) return;
        try {
          const n = claims?.prune(Date.now() - cluster.claimRetentionH * 3_600_000) ?? 0;
          if (n > 0) log.info({ pruned: n }, 'old ingest claims pruned');
        } catch (err) {
          log.error({ err }, 'pruning ingest claims failed');
        }
      }, 3_600_000);
      prune.unref();
      app.addHook('onClose', async () => {
        clearInterval(timer);
        clearInterval(prune);
      });
      log.info({ hubId: cluster.hubId }, 'running as one hub of a cluster');
    }
    app.decorate('cluster', {
      enabled,
      hubId: cluster.hubId,
      leases,
      claims,
      scheduler: () => leases.holds(SCHEDULER_LEASE),
    });
    // Last: the leases end with their connection, after the ingest has stored and acknowledged.
    app.addHook('onClose', async () => {
      leases.close();
      claimsDb?.close();
    });
  },
  { name: 'cluster', dependencies: ['stores'] },
);
