/** Stage: a device's history (charts, compare, CSV). */
import { WATCH } from '@qianliyan/protocols';
import { HistoryView } from '../components/history-view.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';

export interface HistoryPanel extends PanelInstance {
  history: HistoryView;
}

export const historyPanel: PanelDef = {
  id: 'history',
  label: 'modeHistory',
  roles: WATCH,
  slot: 'stage',
  mount(el, ctx): HistoryPanel {
    const history = new HistoryView(
      el,
      () => ctx.store.devices,
      (id) => ctx.siteName(id),
    );
    return { history, activate: (on) => on && history.refresh(), relabel: () => history.relabel() };
  },
};
