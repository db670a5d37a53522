/**
 * The stage's views: what each header button shows. One generic CSS rule shows the panels of the
 * active view (`.stage > [data-panel]:not(.shown) { display: none }`); `layout` sets the columns.
 */
import { ADMINISTER, BROADCAST, type Role, WATCH } from '@qianliyan/protocols';
import type { StringKey } from '../i18n.ts';
import type { ViewId } from './panel.ts';

export interface ViewDef {
  id: ViewId;
  label: StringKey;
  roles: readonly Role[];
  /** Stage panels shown, left to right. */
  panels: readonly string[];
  /** `single` one panel; `halves` two equal; `side` / `side-wide` a panel beside the map. */
  layout: 'single' | 'halves' | 'side' | 'side-wide';
}

export const VIEWS: readonly ViewDef[] = [
  { id: 'map', label: 'modeMap', roles: WATCH, panels: ['map'], layout: 'single' },
  { id: 'split', label: 'modeSplit', roles: WATCH, panels: ['map', 'wall'], layout: 'halves' },
  { id: 'wall', label: 'modeWall', roles: WATCH, panels: ['wall'], layout: 'single' },
  {
    id: 'broadcast',
    label: 'modeBroadcast',
    roles: BROADCAST,
    panels: ['map', 'broadcast'],
    layout: 'side',
  },
  { id: 'history', label: 'modeHistory', roles: WATCH, panels: ['history'], layout: 'single' },
  {
    id: 'incidents',
    label: 'modeIncidents',
    roles: WATCH,
    panels: ['map', 'incidents'],
    layout: 'side-wide',
  },
  {
    id: 'alarmCentre',
    label: 'modeAlarmCentre',
    roles: WATCH,
    panels: ['alarmCentre'],
    layout: 'single',
  },
  {
    id: 'availability',
    label: 'modeAvailability',
    roles: WATCH,
    panels: ['availability'],
    layout: 'single',
  },
  { id: 'alarmRules', label: 'modeAlarmRules', roles: ADMINISTER, panels: ['alarmRules'], layout: 'single' },
];
