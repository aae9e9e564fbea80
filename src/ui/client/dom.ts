// A few lines of DOM building: the page has no framework and no inline script or style.

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

/** Position along the web: lines, and mm when the scale is known. */
export function webPosition(line: number, x: number, mmPerLine: number, mmPerPixel: number): string {
  const mm =
    mmPerLine > 0
      ? ` (${((line * mmPerLine) / 1000).toFixed(2)} m along${mmPerPixel > 0 ? `, ${(x * mmPerPixel).toFixed(0)} mm across` : ''})`
      : '';
  return `line ${line}, x ${x}${mm}`;
}
