/**
 * The site tree navigator (county → town → village → grid) in the sidebar: each node with its counts
 * over its subtree (online / offline / alarm); a node (click, Enter) zooms the map to its boundary or
 * centre and filters nothing away — the map simply goes there. A village or grid has "call this
 * village" beside it for officers. Updated in place.
 *
 * Keyboard: the tree is one tab stop (arrows, Home, End move; Tab goes on to the focused node's call
 * button); the focused node is outlined and named with its counts (its accessible name).
 */
import type { SiteNode } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';
import { RovingFocus } from './roving-focus.ts';

/** A node of the tree with its devices' counts over its subtree. */
export type SiteNodeView = SiteNode & { devices: number; offline: number; alarms: number };

export class SiteTreeNav {
  private nodes: SiteNodeView[] = [];
  private html = '';
  private readonly focus: RovingFocus;

  constructor(
    private readonly root: HTMLElement,
    private readonly go: (node: SiteNodeView) => void,
    /** Rings a village (absent for roles that may not place calls). */
    private readonly call?: (node: SiteNodeView) => void,
  ) {
    this.focus = new RovingFocus(root, 'site', () => this.callStops());
    root.addEventListener('click', (ev) => {
      const target = ev.target as HTMLElement;
      const callId = target.closest<HTMLElement>('[data-call-site]')?.dataset.callSite;
      const node = this.nodes.find((n) => n.id === callId);
      if (node && this.call) return this.call(node);
      const id = target.closest<HTMLElement>('[data-site]')?.dataset.site;
      const picked = this.nodes.find((n) => n.id === id);
      if (picked) this.go(picked);
    });
  }

  show(nodes: SiteNodeView[]): void {
    this.nodes = nodes;
    const ids = new Set(nodes.map((n) => n.id));
    const children = new Map<string | null, SiteNodeView[]>();
    for (const n of nodes) {
      // A node whose parent is outside the caller's scope is a root here.
      const parent = n.parent && ids.has(n.parent) ? n.parent : null;
      children.set(parent, [...(children.get(parent) ?? []), n]);
    }
    const collator = new Intl.Collator('zh-CN', { numeric: true });
    const render = (parent: string | null, depth: number): string =>
      (children.get(parent) ?? [])
        .sort((a, b) => collator.compare(a.name, b.name))
        .map((n) => {
          const online = n.devices - n.offline - n.alarms;
          const label = `${n.name}: ${t('online')} ${online}, ${t('offline')} ${n.offline}, ${t('alarm')} ${n.alarms}`;
          const callable = this.call && (n.level === 'village' || n.level === 'grid');
          return `<li class="site-node level-${n.level} depth-${Math.min(depth, 3)}">
            <button type="button" class="site-go" data-site="${escapeHtml(n.id)}" aria-label="${escapeHtml(label)}" title="${escapeHtml(label)}">
              <span class="site-name">${escapeHtml(n.name)}</span>
              <span class="site-counts" aria-hidden="true">
                <span class="c-on">${online}</span>${n.offline ? `<span class="c-off">${n.offline}</span>` : ''}${n.alarms ? `<span class="c-alarm">${n.alarms}</span>` : ''}
              </span></button>${
                callable
                  ? `<button type="button" class="site-call" data-call-site="${escapeHtml(n.id)}" aria-label="${escapeHtml(t('callThisVillage', { name: n.name }))}" title="${escapeHtml(t('callThisVillage', { name: n.name }))}">${t('callShort')}</button>`
                  : ''
              }</li>${render(n.id, depth + 1)}`;
        })
        .join('');
    const html = render(null, 0);
    if (html !== this.html) {
      const hadFocus = this.root.contains(document.activeElement);
      const focused = (document.activeElement as HTMLElement | null)?.dataset.site;
      this.html = html;
      this.root.innerHTML = html;
      this.refreshFocus();
      if (hadFocus && focused) this.focus.focus(focused);
    }
  }

  private refreshFocus(): void {
    this.focus.refresh();
  }

  /** One tab stop: the focused node and its call button; the rest by the arrow keys. */
  private callStops(): void {
    for (const li of this.root.querySelectorAll<HTMLElement>('li')) {
      const go = li.querySelector<HTMLElement>('[data-site]');
      const call = li.querySelector<HTMLElement>('[data-call-site]');
      if (call) call.tabIndex = go?.tabIndex === 0 ? 0 : -1;
    }
  }
}
