// The page's side of the HTTP API. The write token lives in sessionStorage (never a cookie) and
// travels in the X-Patchline-Token header of writes only.
import type { GalleryItem, Label, ReviewSummary } from '../protocol.js';

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

export async function review(id: string, label: Label, defectClass?: string): Promise<GalleryItem> {
  const res = await fetch(`/api/gallery/${encodeURIComponent(id)}/review`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-patchline-token': storedToken() ?? '' },
    body: JSON.stringify({ label, ...(defectClass ? { defectClass } : {}) }),
  });
  return (await checked(res)).json() as Promise<GalleryItem>;
}

export const imageUrl = (id: string, kind: 'image' | 'overlay') => `/api/gallery/${encodeURIComponent(id)}/${kind}`;
