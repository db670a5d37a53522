/**
 * The command view's panels, in mount order: the sidebar's sections top to bottom, the stage's
 * panels (which ones show is the active view's choice, shell/views.ts), then the overlays. A panel
 * the user's role does not have is not mounted at all.
 */
import { alarmCentrePanel } from '../panels/alarm-centre-panel.ts';
import { alarmRulesPanel } from '../panels/alarm-rules-panel.ts';
import { alarmsPanel } from '../panels/alarms-panel.ts';
import { availabilityPanel } from '../panels/availability-panel.ts';
import { broadcastPanel } from '../panels/broadcast-panel.ts';
import { callsPanel } from '../panels/calls-panel.ts';
import { deviceDetailPanel } from '../panels/device-detail-panel.ts';
import { devicesPanel } from '../panels/devices-panel.ts';
import { gatewaysPanel } from '../panels/gateways-panel.ts';
import { historyPanel } from '../panels/history-panel.ts';
import { incidentsPanel } from '../panels/incidents-panel.ts';
import { mapPanel } from '../panels/map-panel.ts';
import { sitesPanel } from '../panels/sites-panel.ts';
import { wallPanel } from '../panels/wall-panel.ts';
import type { PanelDef } from './panel.ts';

export const PANELS: readonly PanelDef[] = [
  alarmsPanel,
  sitesPanel,
  gatewaysPanel,
  devicesPanel,
  mapPanel,
  wallPanel,
  broadcastPanel,
  historyPanel,
  incidentsPanel,
  alarmCentrePanel,
  availabilityPanel,
  alarmRulesPanel,
  deviceDetailPanel,
  callsPanel,
];
