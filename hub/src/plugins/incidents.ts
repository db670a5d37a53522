/**
 * Incidents and linkage, wired through the bus: a linkage rule asks for an incident
 * (`incidentRequested`), the incident service creates it and announces `incidentCreated`, linkage
 * runs its plan; plans and ended calls are written into the incident's timeline.
 */
import fp from 'fastify-plugin';
import { IncidentService } from '../services/incidents.ts';
import { LinkageService } from '../services/linkage.ts';

declare module 'fastify' {
  interface FastifyInstance {
    incidents: IncidentService;
    linkage: LinkageService;
  }
}

export const incidentsPlugin = fp(
  async (app) => {
    const config = app.config.incidents;
    const incidents = new IncidentService(
      app.stateDb.handle,
      app.bus,
      app.siteTree,
      app.audit,
      app.log.child({ module: 'incidents' }),
      {
        acceptMs: config.acceptMs,
        resolveMs: config.resolveMs,
        warnBeforeMs: config.warnBeforeMs,
        rules: config.sla,
        autoEscalate: config.autoEscalate,
        clock: Date.now,
      },
    );
    incidents.start(config.sweepIntervalMs, app.cluster.scheduler);
    const linkage = new LinkageService(
      app.registry,
      app.commands,
      app.broadcasts,
      app.siteTree,
      app.bus,
      app.log.child({ module: 'linkage' }),
      app.stateDb.getSetting<typeof app.config.linkage.rules>('linkage.rules') ?? app.config.linkage.rules,
    );
    linkage.start();

    app.bus.on('incidentRequested', 'incidents', ({ rule, alarm, incident }) => {
      const created = incidents.create(undefined, { ...incident, source: 'rule', alarm: alarm.id });
      app.bus.emit('incidentCreated', { incident: created, rule, alarm });
    });
    app.bus.on('linkageExecuted', 'incidents', ({ plan, by }) => {
      if (plan.incident === null) return;
      incidents.note(plan.incident, by, 'linked', undefined, {
        cameras: plan.cameras.map((c) => c.key),
        speakers: plan.speakers.map((s) => s.key),
        drone: plan.drone?.key ?? null,
        broadcast: plan.broadcast?.mode ?? null,
        notified: plan.notified,
        // The whole plan (bounded: 16 cameras, 50 speakers), so an officer who opens the incident
        // later sees what the rule found and proposed, not only that it ran.
        plan,
      });
    });
    app.bus.on('callChanged', 'incidents', ({ call }) => {
      if (call.incident === null || !['ended', 'missed', 'declined'].includes(call.state)) return;
      incidents.note(call.incident, call.from, 'call', undefined, {
        call: call.id,
        state: call.state,
        participants: call.joined,
        seconds: call.answeredAt && call.endedAt ? Math.round((call.endedAt - call.answeredAt) / 1000) : 0,
      });
    });
    app.decorate('incidents', incidents);
    app.decorate('linkage', linkage);
    app.addHook('onClose', async () => incidents.stop());
  },
  { name: 'incidents', dependencies: ['alarms', 'broadcasts', 'commands'] },
);
