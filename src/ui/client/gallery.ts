// The defect gallery: the last anomalous frames (line-scan: defects) with heat map, score, time
// and position, and the review buttons: defect (with a class) or false alarm. Without the
// token the page is read-only and says so.
import type { GalleryItem, Label, StatusMessage } from '../protocol.js';
import { imageUrl, review, storedToken } from './api.js';
import { byId, clear, h, webPosition } from './dom.js';

export class GalleryView {
  private readonly root: HTMLElement;
  private readonly cards = new Map<string, HTMLElement>();

  constructor(
    private readonly status: () => StatusMessage | undefined,
    private readonly onReviewed: () => void,
  ) {
    this.root = byId('gallery');
  }

  showAll(items: GalleryItem[]): void {
    clear(this.root);
    this.cards.clear();
    for (const item of [...items].reverse()) this.upsert(item);
    if (items.length === 0) this.root.append(h('p', { class: 'hint empty' }, 'No anomalous frame yet.'));
  }

  /** A new item (top), or an updated one (in place). */
  upsert(item: GalleryItem): void {
    this.root.querySelector('.empty')?.remove();
    const card = this.card(item);
    const old = this.cards.get(item.id);
    if (old) old.replaceWith(card);
    else this.root.prepend(card);
    this.cards.set(item.id, card);
  }

  /** Redraws every card (the token was entered or dropped). */
  refresh(items: GalleryItem[]): void {
    this.showAll(items);
  }

  private card(item: GalleryItem): HTMLElement {
    const s = this.status();
    const p = item.region ? { line: item.region.box.y, x: item.region.box.x } : item.position;
    const where =
      p.line !== undefined
        ? webPosition(p.line, p.x ?? 0, s?.mmPerLine ?? 0, s?.mmPerPixel ?? 0)
        : item.position.file
          ? item.position.file.split('/').pop()!
          : `frame ${item.seq}`;
    const canWrite = storedToken() !== undefined;
    const message = h('span', { class: 'message' });
    const defectClass = h('input', {
      type: 'text',
      value: item.review?.defectClass ?? 'defect',
      'aria-label': 'defect class',
      maxlength: '40',
      disabled: !canWrite,
    });
    const act = (label: Label) => async () => {
      message.textContent = 'saving…';
      try {
        this.upsert(await review(item.id, label, label === 'defect' ? defectClass.value.trim() || undefined : undefined));
        this.onReviewed();
      } catch (e) {
        message.textContent = (e as Error).message;
      }
    };
    const defect = h(
      'button',
      { type: 'button', class: 'defect', disabled: !canWrite, title: canWrite ? '' : 'enter the token to review' },
      'Defect',
    );
    const falseAlarm = h(
      'button',
      { type: 'button', class: 'false-alarm', disabled: !canWrite, title: canWrite ? '' : 'enter the token to review' },
      'False alarm',
    );
    defect.addEventListener('click', () => void act('defect')());
    falseAlarm.addEventListener('click', () => void act('false-alarm')());
    const thumb = h('img', {
      src: imageUrl(item.id, 'overlay'),
      alt: `gallery item ${item.id}`,
      loading: 'lazy',
      width: String(item.width),
      height: String(item.height),
    });
    thumb.addEventListener('click', () => this.view(item));
    const badge = item.review
      ? h(
          'span',
          { class: `badge ${item.review.label}` },
          item.review.label === 'defect' ? `defect: ${item.review.defectClass ?? 'defect'}` : 'false alarm',
        )
      : h('span', { class: 'badge open' }, 'not reviewed');
    return h(
      'article',
      { class: 'item', 'data-id': item.id },
      thumb,
      h(
        'div',
        { class: 'meta' },
        badge,
        h('b', {}, `score ${item.score.toFixed(2)}`),
        ` / threshold ${item.threshold.toFixed(2)}`,
        h('br'),
        new Date(item.at).toLocaleTimeString(),
        ' · ',
        where,
      ),
      h('div', { class: 'actions' }, defectClass, defect, falseAlarm, message),
    );
  }

  private view(item: GalleryItem): void {
    const dialog = byId<HTMLDialogElement>('viewer');
    clear(dialog);
    const close = h('button', { type: 'button' }, 'Close');
    close.addEventListener('click', () => dialog.close());
    dialog.append(
      h(
        'div',
        { class: 'pair' },
        h('img', { src: imageUrl(item.id, 'image'), alt: 'as captured' }),
        h('img', { src: imageUrl(item.id, 'overlay'), alt: 'with heat map' }),
      ),
      h('p', {}, `item ${item.id}, frame #${item.seq}, bank ${item.bank}`),
      close,
    );
    dialog.showModal();
  }
}
