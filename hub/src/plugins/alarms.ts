/**
 * The alarm service, fed by device events on the bus, and the alarm centre around it (after the
 * incidents plugin, whose linkage speaks for rules): device health, rules on readings,
 * notifications, and the one scheduler that runs their timers (`app.alarmScheduler.tick`).
 */
import fp from 'fastify-plugin';
import { AlarmScheduler } from '../services/alarm-scheduler.ts';
import { AlarmService } from '../services/alarms.ts';
import { AlarmClock } from '../services/clock.ts';
import { HealthService } from '../services/health.ts';
import { NotificationService } from '../services/notifications.ts';
import { RuleEngine } from '../services/reading-rules.ts';

declare module 'fastify' {
  interface FastifyInstance {
    alarms: AlarmService;
    alarmClock: AlarmClock;
    alarmScheduler: AlarmScheduler;
    health: HealthService;
    readingRules: RuleEngine;
    notifications: NotificationService;
  }
}

export const alarmsPlugin = fp(
  async (app) => {
    const config = app.config.alarms;
    const clock = new AlarmClock();
    const alarms = new AlarmService(app.stateDb.handle, app.bus, app.log.child({ module: 'alarms' }), {
      clock: clock.now,
      ancestors: (site) => app.siteTree.ancestors(site),
      flapWindowMs: config.flapWindowMs,
      renotifyAfterMs: config.renotifyAfterMs,
      renotifyMinSeverity: config.renotifyMinSeverity,
      escalateAfterMs: config.escalateAfterMs,
      escalateMinSeverity: config.escalateMinSeverity,
    });
    alarms.start();
    app.decorate('alarms', alarms);
    app.decorate('alarmClock', clock);
  },
  { name: 'alarms', dependencies: ['ingest'] },
);

export const alarmCentrePlugin = fp(
  async (app) => {
    const config = app.config.alarms;
    const clock = app.alarmClock;
    const scheduler = new AlarmScheduler(
      clock.now,
      app.metrics,
      app.log.child({ module: 'alarm-scheduler' }),
    );
    const health = new HealthService(
      app.stateDb.handle,
      app.registry,
      app.alarms,
      app.bus,
      app.metrics,
      app.log.child({ module: 'health' }),
      { clock: clock.now, startupGraceMs: config.healthStartupGraceMs },
    );
    health.start();
    const rules = new RuleEngine(
      app.stateDb.handle,
      app.registry,
      app.siteTree,
      app.alarms,
      app.timeseries,
      app.bus,
      app.metrics,
      app.log.child({ module: 'rules' }),
      (rule, device, site) => {
        const d = app.registry.getDevice(device);
        const speak = rule.action?.speak;
        if (!d || !speak) return;
        // Through the linkage service, as the village's own operator: a rule never sounds
        // loudspeakers outside the device's village.
        const actor = app.linkage.actorFor(
          { id: `rule-${rule.id}`, name: rule.name, when: { types: [] }, actions: {} },
          site,
        );
        app.linkage.run(
          {
            broadcast: {
              mode: 'auto',
              text: speak.text,
              count: speak.count,
              maxDistanceM: speak.maxDistanceM,
            },
          },
          { location: d.position, site, incident: null, rule: `rule-${rule.id}`, near: d.key },
          actor,
        );
      },
      { clock: clock.now, previewMaxDevices: config.rulePreviewMaxDevices },
    );
    rules.start();
    const notifications = new NotificationService(
      app.stateDb.handle,
      app.stateDb,
      app.alarms,
      app.registry,
      app.siteTree,
      app.bus,
      app.metrics,
      app.log.child({ module: 'notifications' }),
      {
        ...app.config.notifications,
        channels: app.config.notifications.channels as never,
        timeZoneOffsetMinutes: config.reportTimeZoneOffsetMinutes,
        clock: clock.now,
      },
    );
    notifications.start();
    scheduler.add({ name: 'health', run: (now) => health.tick(now) });
    scheduler.add({ name: 'alarms', run: (now) => app.alarms.tick(now) });
    scheduler.add({ name: 'rules', run: (now) => rules.tick(now) });
    scheduler.add({ name: 'notifications', run: (now) => notifications.tick(now) });
    scheduler.start(config.tickMs, () => app.cluster.scheduler());
    app.decorate('alarmScheduler', scheduler);
    app.decorate('health', health);
    app.decorate('readingRules', rules);
    app.decorate('notifications', notifications);
    app.addHook('onClose', async () => {
      scheduler.stop();
      health.stop();
      await notifications.close();
    });
  },
  { name: 'alarm-centre', dependencies: ['alarms', 'incidents'] },
);
