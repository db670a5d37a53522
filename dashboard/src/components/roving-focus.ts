/**
 * One tab stop for a whole list (WAI-ARIA "roving tabindex"): Tab enters the list at its current
 * item and leaves it at the next; the arrow keys, Home and End move within it. Fifty alarms with two
 * buttons each were a hundred Tab presses between the officer and the map; now they are one. The
 * controls inside a row are reachable only from that row (Tab from the row into them).
 */
export class RovingFocus {
  /** The key (`data-${keyAttr}`) of the item that takes focus when Tab enters the list. */
  private current: string | undefined;

  constructor(
    private readonly root: HTMLElement,
    /** Items: elements with this data attribute (e.g. `alarm` for `data-alarm`). */
    private readonly keyAttr: string,
    /** After each refresh (e.g. to set the tab stops of controls beside the items). */
    private readonly afterRefresh?: () => void,
  ) {
    root.addEventListener('keydown', (ev) => this.onKey(ev));
    root.addEventListener('focusin', (ev) => {
      const item = (ev.target as HTMLElement).closest<HTMLElement>(this.selector);
      if (item && this.root.contains(item)) {
        this.current = item.dataset[this.dataKey];
        this.refresh();
      }
    });
  }

  private get selector(): string {
    return `[data-${this.keyAttr}]`;
  }

  /** `data-foo-bar` → `fooBar` (the dataset name). */
  private get dataKey(): string {
    return this.keyAttr.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  }

  private items(): HTMLElement[] {
    return [...this.root.querySelectorAll<HTMLElement>(this.selector)];
  }

  /** After a redraw: exactly one item is tabbable, and the controls of the others are not. */
  refresh(): void {
    const items = this.items();
    const active =
      items.find((el) => el.dataset[this.dataKey] === this.current) ??
      items.find((el) => el.classList.contains('selected')) ??
      items[0];
    for (const el of items) {
      const on = el === active;
      el.tabIndex = on ? 0 : -1;
      for (const c of el.querySelectorAll<HTMLElement>('button, a, input, select'))
        c.tabIndex = on && el.contains(document.activeElement) ? 0 : -1;
    }
    this.afterRefresh?.();
  }

  /** Moves focus to an item (by key), e.g. after it was opened. */
  focus(key: string): void {
    this.current = key;
    this.refresh();
    this.items()
      .find((el) => el.dataset[this.dataKey] === key)
      ?.focus();
  }

  private onKey(ev: KeyboardEvent): void {
    const item = (ev.target as HTMLElement).closest<HTMLElement>(this.selector);
    if (!item) return;
    const items = this.items();
    const at = items.indexOf(item);
    const next =
      ev.key === 'ArrowDown'
        ? items[at + 1]
        : ev.key === 'ArrowUp'
          ? items[at - 1]
          : ev.key === 'Home'
            ? items[0]
            : ev.key === 'End'
              ? items.at(-1)
              : undefined;
    if (!next || (ev.target as HTMLElement) !== item) return;
    ev.preventDefault();
    this.current = next.dataset[this.dataKey];
    this.refresh();
    next.focus();
  }
}
