/**
 * Stage, beside the map: the incident board. Open incidents with a place are pins on the map; a
 * linkage plan that a rule ran puts its cameras on the wall and is shown on its incident.
 */
import { type IncidentView, WATCH } from '@qianliyan/protocols';
import L from 'leaflet';
import { IncidentBoard } from '../components/incident-board.ts';
import { t } from '../i18n.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';
import type { CallsPanel } from './calls-panel.ts';

export interface IncidentsPanel extends PanelInstance {
  board: IncidentBoard;
  open(id: number): void;
}

export const incidentsPanel: PanelDef = {
  id: 'incidents',
  label: 'modeIncidents',
  roles: WATCH,
  slot: 'stage',
  mount(el, ctx): IncidentsPanel {
    const pins = L.layerGroup().addTo(ctx.map);
    const villages = () => ctx.store.sites.filter((s) => s.level === 'village' || s.level === 'grid');
    const board = new IncidentBoard(el, {
      role: ctx.user.role,
      villages,
      siteName: (id) => ctx.siteName(id),
      isCamera: (key) => ctx.store.devices.get(key)?.capabilities.includes('snapshot') ?? false,
      deviceName: (key) => ctx.deviceLabel(key),
      pickPoint: () => {
        ctx.show('split');
        return ctx.mapTools.pickPoint();
      },
      call: (incident) =>
        ctx.panel<CallsPanel>('calls')?.call({ sites: [incident.site], incident: incident.id }),
      openCameras: (keys) => ctx.openOnWall(keys),
      onChange: (list) => drawPins(list),
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
          title: `#${i.id} ${i.title}`,
          alt: `#${i.id} ${i.title}`,
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
      // A rule fired: its cameras go up on the wall at once, and the officer is told.
      if (plan.rule !== null) {
        ctx.openOnWall(plan.cameras.map((c) => c.key));
        ctx.toast(
          `${t('linkage')}: ${plan.incident ? `${t('incident')} #${plan.incident}` : ''} ${plan.cameras.length} / ${plan.speakers.length}`,
        );
      }
    });
    void board.load().catch((err) => console.warn('incidents not loaded', err));
    return {
      board,
      open,
      dispose: () => {
        offIncident();
        offLinkage();
        board.dispose();
        pins.remove();
      },
    };
  },
};
