// The operator page: connects to /live, shows live tiles, the web strip, the score timeline and
// the defect gallery, and lets a person with the token review defects.
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { unpackBinary, type LiveMessage, type StatusMessage } from '../protocol.js';
import * as api from './api.js';
import { byId, clear, h } from './dom.js';
import { GalleryView } from './gallery.js';
import { LiveView } from './live.js';
import { RecipesPanel } from './recipes.js';
import { StripView } from './strip.js';
import { TimelineView } from './timeline.js';
import { showWhatIf } from './whatif.js';

const live = new LiveView();
const timeline = new TimelineView(300);
let strip: StripView | undefined;
const recipes = new RecipesPanel();
let recipesEnabled = false;
const refreshReviews = () =>
  void api.reviews().then(
    (r) => showWhatIf(r, recipesEnabled, () => void recipes.refresh()),
    () => undefined,
  );
void api.recipes().then(
  (v) => {
    recipesEnabled = v.enabled;
    refreshReviews();
  },
  () => undefined,
);
// A review changes the what-if view and the false alarms the recipe panel offers to add.
const gallery = new GalleryView(
  () => live.latest,
  () => {
    refreshReviews();
    void recipes.refresh();
  },
);

function showAuth(): void {
  const root = byId('auth');
  clear(root);
  if (api.storedToken()) {
    const lock = h('button', { type: 'button' }, 'Lock');
    lock.addEventListener('click', () => {
      api.lock();
      showAuth();
      void api.gallery().then((items) => gallery.refresh(items));
      void recipes.refresh();
      refreshReviews();
    });
    root.append(h('span', { class: 'chip ok' }, 'reviews unlocked'), lock);
    return;
  }
  const input = h('input', { type: 'password', placeholder: 'token', 'aria-label': 'write token', autocomplete: 'off' });
  const button = h('button', { type: 'button' }, 'Unlock reviews');
  const note = h('span', { class: 'chip readonly' }, 'read-only');
  button.addEventListener('click', async () => {
    if (await api.unlock(input.value.trim())) {
      showAuth();
      gallery.refresh(await api.gallery());
      void recipes.refresh();
      refreshReviews();
    } else {
      note.textContent = 'token refused: read-only';
    }
  });
  root.append(note, input, button);
}

function connect(): void {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/live`);
  ws.binaryType = 'arraybuffer';
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data === 'string') {
      const m = JSON.parse(ev.data) as LiveMessage;
      if (m.type === 'status') onStatus(m);
      else if (m.type === 'timeline') timeline.add(m);
      else if (m.type === 'gallery') gallery.upsert(m.item);
      else if (m.type === 'job') recipes.onJob(m.job);
      else if (m.type === 'recipes') {
        void recipes.refresh();
        refreshReviews();
      }
      return;
    }
    const { header, payload } = unpackBinary(ev.data as ArrayBuffer);
    if (header.type === 'tile') live.tile(header, payload);
    else if (header.type === 'strip') void (strip ??= new StripView()).show(header, payload, live.latest);
    document.body.dataset.tiles = String(live.received);
  });
  ws.addEventListener('close', () => setTimeout(connect, 2000));
}

function onStatus(s: StatusMessage): void {
  live.showStatus(s);
  document.body.dataset.framesOut = String(s.framesOut);
}

showAuth();
void api.gallery().then((items) => gallery.showAll(items));
refreshReviews();
connect();
