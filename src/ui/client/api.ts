// The page's side of the HTTP API. The write token lives in sessionStorage (never a cookie) and
// travels in the X-Patchline-Token header of writes only.
import type { AuditRecord, GalleryItem, JobState, Label, RecipesView, ReviewSummary } from '../protocol.js';

const TOKEN_KEY = 'patchline-token';

export function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

async function checked(res: Response): Promise<Response> {
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    throw new Error(`${res.status}: ${body.error ?? res.statusText}`);
  }
  return res;
}

/** Whether the service accepts `token` for writes; keeps it for this browser tab when it does. */
export async function unlock(token: string): Promise<boolean> {
  const res = await fetch('/api/auth', { method: 'POST', headers: { 'x-patchline-token': token } });
  if (res.status !== 204) return false;
  sessionStorage.setItem(TOKEN_KEY, token);
  return true;
}

export function lock(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export async function gallery(): Promise<GalleryItem[]> {
  return (await checked(await fetch('/api/gallery'))).json() as Promise<GalleryItem[]>;
}

export async function reviews(): Promise<ReviewSummary> {
  return (await checked(await fetch('/api/reviews'))).json() as Promise<ReviewSummary>;
}

/** A write: JSON body, the token header. */
async function post<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-patchline-token': storedToken() ?? '' },
    body: JSON.stringify(body),
  });
  return (await checked(res)).json() as Promise<T>;
}

export function review(id: string, label: Label, defectClass?: string): Promise<GalleryItem> {
  return post(`/api/gallery/${encodeURIComponent(id)}/review`, { label, ...(defectClass ? { defectClass } : {}) });
}

export async function recipes(): Promise<RecipesView> {
  return (await checked(await fetch('/api/recipes'))).json() as Promise<RecipesView>;
}

export async function audit(): Promise<AuditRecord[]> {
  return (await checked(await fetch('/api/audit'))).json() as Promise<AuditRecord[]>;
}

export type RecipeAction =
  | { action: 'select'; recipe: string }
  | { action: 'activate' | 'discard'; recipe: string; version: number }
  | { action: 'rollback' | 'add-false-alarms'; recipe: string }
  | { action: 'teach'; recipe: string; frames: number }
  | { action: 'threshold'; recipe?: string; threshold: number; note: string };

export function recipeAction(a: RecipeAction): Promise<{ bank?: string } | JobState> {
  const { action, ...body } = a;
  return post(`/api/recipes/${action}`, body);
}

export const imageUrl = (id: string, kind: 'image' | 'overlay') => `/api/gallery/${encodeURIComponent(id)}/${kind}`;
