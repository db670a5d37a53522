/**
 * Stage, beside the map: the incident board. Open incidents with a place are pins on the map; a
 * linkage plan that a rule ran puts its cameras on the wall and is shown on its incident — kept per
 * incident in the live store, so it is there whenever the incident is opened.
 */
import { type IncidentView, type LinkagePlan, WATCH } from '@qianliyan/protocols';
import L from 'leaflet';
import { get } from '../api.ts';
import { IncidentBoard, type IncidentBoardOptions, incidentTitle } from '../components/incident-board.ts';
import { t } from '../i18n.ts';
import type { LiveStore } from '../live-store.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';
import type { CallsPanel } from './calls-panel.ts';

export interface IncidentsPanel extends PanelInstance {
  board: IncidentBoard;
  open(id: number): void;
}

/** The live store's linkage collection, as the board reads and fills it (latest plan per incident). */
export function storedPlans(store: LiveStore): IncidentBoardOptions['plans'] {
  return {
    get: (incident) => store.topics.linkage.get(`incident:${incident}`),
    remember: (event) => store.topics.linkage.put(event, false),
  };
}

/** Linkage rules' names by id, loaded once (a toast names the rule, not its id). */
export function ruleNames(): (id: string) => string {
  const names = new Map<string, string>();
  void get('/api/linkage/rules')
    .then((rules) => {
      for (const r of rules) names.set(r.id, r.name);
    })
    .catch(() => undefined);
  return (id) => names.get(id) ?? id;
}

/** "Rule “…” linked incident #3: 3 cameras and 2 loudspeakers." */
export function linkageSentence(plan: LinkagePlan, ruleName: (id: string) => string): string {
  const counts = { cameras: plan.cameras.length, speakers: plan.speakers.length };
  if (plan.rule === null) return t('linkageToastManual', { incident: plan.incident ?? '—', ...counts });
  return plan.incident !== null
    ? t('linkageToastRule', { rule: ruleName(plan.rule), incident: plan.incident, ...counts })
    : t('linkageToastRuleOnly', { rule: ruleName(plan.rule), ...counts });
}

export const incidentsPanel: PanelDef = {
  id: 'incidents',
  label: 'modeIncidents',
  roles: WATCH,
  slot: 'stage',
  mount(el, ctx): IncidentsPanel {
    const pins = L.layerGroup().addTo(ctx.map);
    const villages = () => ctx.store.sites.filter((s) => s.level === 'village' || s.level === 'grid');
    const ruleName = ruleNames();
    const board = new IncidentBoard(el, {
      role: ctx.user.role,
      villages,
      siteName: (id) => ctx.siteName(id),
      isCamera: (key) => ctx.store.devices.get(key)?.capabilities.includes('snapshot') ?? false,
      deviceName: (key) => ctx.deviceLabel(key),
      pickPoint: () => ctx.mapTools.pickPoint(),
      call: (incident) =>
        ctx.panel<CallsPanel>('calls')?.call({ sites: [incident.site], incident: incident.id }),
      // The officer stays on the incident: the cameras wait on the wall, a click away.
      openCameras: (keys) => ctx.openOnWall(keys, { stay: true }),
      showWall: () => ctx.show('split'),
      onChange: (list) => drawPins(list),
      plans: storedPlans(ctx.store),
      ruleName,
    });
    const open = (id: number) => board.open(id);
    function drawPins(list: IncidentView[]): void {
      pins.clearLayers();
      for (const i of list) {
        if (!i.location || i.status === 'closed' || i.status === 'resolved') continue;
        L.marker([i.location.lat, i.location.lon], {
          icon: L.divIcon({
            className: `qly-incident prio-${i.priority}`,
            html: '<span>⚠</span>',
            iconSize: [28, 28],
          }),
          title: `#${i.id} ${incidentTitle(i)}`,
          alt: `#${i.id} ${incidentTitle(i)}`,
        })
          .on('click', () => {
            ctx.show('incidents');
            open(i.id);
          })
          .addTo(pins);
      }
    }
    const offIncident = ctx.store.topics.incident.on((i) => board.upsert(i));
    const offLinkage = ctx.store.topics.linkage.on(({ plan }) => {
      board.linkage(plan);
      // A rule fired: its cameras go up on the wall at once, and the officer is told in a sentence.
      if (plan.rule !== null) {
        ctx.openOnWall(
          plan.cameras.map((c) => c.key),
          { stay: ctx.view === 'incidents' },
        );
        ctx.toast(linkageSentence(plan, ruleName));
      }
    });
    void board.load().catch((err) => console.warn('incidents not loaded', err));
    return {
      board,
      open,
      relabel: () => {
        board.relabel();
        drawPins(board.list());
      },
      dispose: () => {
        offIncident();
        offLinkage();
        board.dispose();
        pins.remove();
      },
    };
  },
};
