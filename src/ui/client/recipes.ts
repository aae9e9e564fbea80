// Recipes and bank versions: which product runs, switching products, each recipe's versions
// (activate, roll back, discard), teaching from the line with progress and the held-out scores
// before activation, adding reviewed false alarms, and the audit log. Writes need the token.
import type { AuditRecord, JobState, RecipeInfo, RecipesView } from '../protocol.js';
import { audit, recipeAction, recipes, storedToken, type RecipeAction } from './api.js';
import { byId, clear, h } from './dom.js';

const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'none' : x.toFixed(2));

export class RecipesPanel {
  private view?: RecipesView;
  private job?: JobState;
  private readonly message = h('p', { class: 'message', role: 'status' });

  constructor() {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      this.view = await recipes();
      this.job = this.view.job ?? this.job;
      this.render();
      this.renderAudit(await audit());
    } catch (e) {
      this.message.textContent = (e as Error).message;
    }
  }

  onJob(job: JobState): void {
    const wasRunning = this.job && !this.job.finished;
    this.job = job;
    this.renderJob();
    if (job.finished && wasRunning) void this.refresh();
  }

  private async act(a: RecipeAction, done: string): Promise<void> {
    this.message.textContent = 'working…';
    try {
      const out = await recipeAction(a);
      this.message.textContent = 'bank' in out && out.bank ? `${done}: ${out.bank}` : done;
      if ('kind' in out) this.onJob(out);
    } catch (e) {
      this.message.textContent = (e as Error).message;
    }
    await this.refresh();
  }

  /** `a`: the action, or a function giving it when clicked (values from inputs). */
  private button(
    label: string,
    a: RecipeAction | (() => RecipeAction),
    done: string,
    attrs: Record<string, string> = {},
  ): HTMLButtonElement {
    const canWrite = storedToken() !== undefined;
    const b = h(
      'button',
      { type: 'button', disabled: !canWrite, title: canWrite ? '' : 'enter the token to change banks', ...attrs },
      label,
    );
    b.addEventListener('click', () => void this.act(typeof a === 'function' ? a() : a, done));
    return b;
  }

  private render(): void {
    const root = byId('recipes');
    clear(root);
    const v = this.view!;
    if (!v.enabled) {
      root.append(
        h(
          'p',
          { class: 'hint' },
          `Running ${v.running}. No recipes are configured: add 'recipes:' and 'model.recipe' to the config to teach, correct and switch products here.`,
        ),
      );
      return;
    }
    root.append(
      h('p', {}, 'Running ', h('b', { 'data-running': v.running }, v.running), v.current ? ` (recipe ${v.current})` : ''),
      this.message,
    );
    for (const r of v.recipes) root.append(this.recipeCard(r, v));
    root.append(h('div', { id: 'job' }));
    this.renderJob();
  }

  private recipeCard(r: RecipeInfo, v: RecipesView): HTMLElement {
    const running = r.name === v.current;
    const head = h(
      'div',
      { class: 'recipe-head' },
      h('h3', {}, r.name, running ? h('span', { class: 'chip ok' }, 'running') : null),
      running
        ? null
        : this.button('Switch to this recipe', { action: 'select', recipe: r.name }, `switched to ${r.name}`, { 'data-select': r.name }),
    );
    const rows = r.versions
      .slice()
      .reverse()
      .map((x) =>
        h(
          'tr',
          { class: x.active ? 'active' : '', 'data-version': x.id },
          h('td', {}, x.id, x.active ? h('span', { class: 'badge open' }, 'active') : null),
          h('td', {}, x.createdAt ? new Date(x.createdAt).toLocaleString() : ''),
          h(
            'td',
            {},
            x.error ? `unreadable: ${x.error}` : `${x.origin?.action ?? 'fit'}${x.origin?.parent ? ` from ${x.origin.parent}` : ''}`,
          ),
          h('td', {}, x.rows !== undefined ? String(x.rows) : ''),
          h('td', {}, `${fmt(x.threshold)} ${x.calibration ? `(${x.calibration})` : ''}`),
          h(
            'td',
            {},
            x.active || x.error
              ? null
              : this.button('Activate', { action: 'activate', recipe: r.name, version: x.version }, `activated ${x.id}`, {
                  'data-activate': x.id,
                }),
          ),
        ),
      );
    const teachFrames = h('input', { type: 'number', min: '10', max: '5000', value: '100', 'aria-label': 'frames to teach' });
    const teachButton = this.button(
      'Teach from the line',
      () => ({ action: 'teach', recipe: r.name, frames: Number(teachFrames.value) }),
      'teaching',
      { 'data-teach': r.name },
    );
    const tools = h(
      'div',
      { class: 'recipe-tools' },
      h('label', {}, 'frames ', teachFrames),
      teachButton,
      r.versions.length > 1
        ? this.button('Roll back', { action: 'rollback', recipe: r.name }, `rolled back ${r.name}`, { 'data-rollback': r.name })
        : null,
      running && v.falseAlarmsToAdd > 0
        ? this.button(
            `Add ${v.falseAlarmsToAdd} reviewed false alarm${v.falseAlarmsToAdd === 1 ? '' : 's'} to the model`,
            { action: 'add-false-alarms', recipe: r.name },
            'adding',
            { 'data-add': r.name },
          )
        : null,
    );
    return h(
      'section',
      { class: 'recipe', 'data-recipe': r.name },
      head,
      r.error ? h('p', { class: 'message' }, r.error) : null,
      r.versions.length === 0
        ? h('p', { class: 'hint' }, `No versions yet: teach this product from the running line (uses the running bank's settings).`)
        : h(
            'table',
            { class: 'versions' },
            h('tr', {}, ...['version', 'created', 'how', 'rows', 'threshold', ''].map((t) => h('th', {}, t))),
            ...rows,
          ),
      tools,
    );
  }

  private renderJob(): void {
    const root = document.getElementById('job');
    if (!root) return;
    clear(root);
    const j = this.job;
    if (!j) return;
    const what = j.kind === 'teach' ? `Teaching ${j.recipe}` : `Adding false alarms to ${j.recipe}`;
    if (!j.finished) {
      root.append(
        h('p', {}, `${what}: ${j.phase} ${j.done}/${j.total} ${j.unit}`),
        h('progress', { max: String(Math.max(1, j.total)), value: String(j.done), 'data-job': j.phase }),
      );
      return;
    }
    if (j.error) {
      root.append(h('p', { class: 'message', 'data-job': 'failed' }, `${what} failed: ${j.error}`));
      return;
    }
    const r = j.result!;
    const scores = r.scores.length
      ? ` Held-out scores (${r.scores.length}): ${r.scores
          .slice()
          .sort((a, b) => a - b)
          .map((s) => s.toFixed(2))
          .join(', ')}.`
      : '';
    const done = this.view?.recipes.find((x) => x.name === j.recipe)?.versions.find((x) => x.version === r.version);
    root.append(
      h(
        'div',
        {},
        h(
          'p',
          { 'data-job': 'done', 'data-result': r.id },
          `${what}: ${r.id} ready, ${r.detail}. Proposed threshold ${fmt(r.threshold)} (${r.calibration}).${scores}`,
        ),
        done && !done.active
          ? h(
              'div',
              { class: 'recipe-tools' },
              this.button(`Activate ${r.id}`, { action: 'activate', recipe: j.recipe, version: r.version }, `activated ${r.id}`, {
                'data-confirm': r.id,
              }),
              this.button('Discard', { action: 'discard', recipe: j.recipe, version: r.version }, `discarded ${r.id}`),
            )
          : null,
      ),
    );
  }

  private renderAudit(entries: AuditRecord[]): void {
    const root = byId('audit');
    clear(root);
    if (entries.length === 0) {
      root.append(h('p', { class: 'hint' }, 'No bank changes yet.'));
      return;
    }
    root.append(
      h(
        'table',
        { class: 'audit' },
        h('tr', {}, ...['time', 'who', 'what', 'recipe', 'before', 'after', 'images', 'detail'].map((t) => h('th', {}, t))),
        ...entries
          .slice()
          .reverse()
          .map((e) =>
            h(
              'tr',
              { 'data-action': e.action },
              h('td', {}, new Date(e.at).toLocaleString()),
              h('td', {}, e.actor),
              h('td', {}, e.action),
              h('td', {}, e.recipe),
              h('td', {}, e.before ?? ''),
              h('td', {}, e.after ?? ''),
              h('td', {}, e.images !== undefined ? String(e.images) : ''),
              h('td', {}, e.detail ?? ''),
            ),
          ),
      ),
    );
  }
}
