/** Stage: the video wall (1/4/9/16 tiles), fed by the device list, the map and linkage plans. */
import { WATCH } from '@qianliyan/protocols';
import { getToken, post } from '../api.ts';
import { errorMessage, t } from '../i18n.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';

export interface WallPanel extends PanelInstance {
  wall: VideoWall;
}

import { VideoWall } from '../video/video-wall.ts';

export const wallPanel: PanelDef = {
  id: 'wall',
  label: 'modeWall',
  roles: WATCH,
  slot: 'stage',
  mount(el, ctx): WallPanel {
    const wall = new VideoWall(el, {
      device: (key) => ctx.store.devices.get(key),
      role: ctx.user.role,
      command: (key, action, params) =>
        post('/api/devices/:key/commands', { params: { key }, body: { action, params } }),
      snapshot: (key) => saveSnapshot(key),
    });
    const off = ctx.store.onChange((change) => {
      for (const d of change.devices) wall.deviceChanged(d);
    });

    async function saveSnapshot(key: string): Promise<void> {
      try {
        const res = await fetch(`/api/devices/${encodeURIComponent(key)}/snapshot`, {
          headers: { authorization: `Bearer ${getToken() ?? ''}` },
        });
        if (!res.ok)
          throw Object.assign(new Error(res.statusText), {
            code: ((await res.json().catch(() => ({}))) as { code?: string }).code ?? 'HUB_ERR_INTERNAL',
          });
        const blob = await res.blob();
        const a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = `${key}-${new Date().toISOString().replace(/[:.]/g, '-')}.jpg`;
        a.click();
        window.setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
        ctx.toast(`${t('snapshotSaved')}: ${ctx.store.devices.get(key)?.name ?? key}`);
      } catch (err) {
        ctx.toast(`${t('snapshotFailed')}: ${errorMessage(err)}`);
      }
    }

    return {
      wall,
      activate: (on) => wall.setActive(on),
      focus: () => wall.focusTile(),
      relabel: () => wall.relabel(),
      dispose: () => {
        off();
        wall.dispose();
      },
    };
  },
};
