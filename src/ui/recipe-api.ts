// What the operator page may do with recipes and bank versions: implemented by the service
// (service/recipe-control.ts), called by the page's HTTP API with the name of the token holder
// for the audit log.
import type { AuditRecord, JobState, RecipesView } from './protocol.js';

export interface RecipeApi {
  /** The recipe running now. */
  readonly recipe: string | undefined;
  view(falseAlarmsToAdd: number): Promise<RecipesView>;
  audit(limit?: number): AuditRecord[];
  select(recipe: string, actor: string): Promise<string>;
  activate(recipe: string, version: number, actor: string): Promise<void>;
  rollback(recipe: string, actor: string): Promise<void>;
  discard(recipe: string, version: number, actor: string): void;
  threshold(recipe: string, value: number, note: string, reviewed: number[], actor: string): Promise<string>;
  teach(recipe: string, frames: number, actor: string): JobState;
  /** Of these gallery ids, the ones whose images the recipe's active version has not had added. */
  notAdded(recipe: string, ids: string[]): Promise<string[]>;
  addImages(recipe: string, images: { id: string; path: string }[], actor: string): Promise<JobState>;
}
