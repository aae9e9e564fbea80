// The operator page's HTTP side: the page and its assets, a small JSON API, and the /live
// WebSocket. Reads need no login (the page binds to localhost unless told otherwise); every
// write needs the token in the X-Patchline-Token header. No cookies, a Content-Security-Policy
// without inline script, capped request bodies, and no file path ever taken from a request.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { GalleryStore } from './gallery-store.js';
import type { LiveHub } from './live-hub.js';
import type { Label, LiveMessage } from './protocol.js';
import type { RecipeApi } from './recipe-api.js';
import { TOKEN_HEADER, type WriteToken } from './token.js';

/** Request bodies larger than this are refused (a review is a few dozen bytes). */
export const MAX_BODY_BYTES = 4096;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The page's files: a fixed list, never a path from the request. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

export interface UiServerDeps {
  assetsDir: string;
  gallery: GalleryStore;
  hub: LiveHub;
  token: WriteToken;
  /** Messages a page gets when it connects (status, the whole timeline, ...). */
  hello(): LiveMessage[];
  status(): unknown;
  threshold(): number;
  /** Recipes and bank versions (absent: the service runs a bank file, no recipes). */
  recipes?: RecipeApi;
  log: (s: string) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: string | Uint8Array, type = 'application/json; charset=utf-8'): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown) => send(res, status, JSON.stringify(value));

async function readBody(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

export async function startUiServer(
  deps: UiServerDeps,
  bind: string,
  port: number,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { gallery, token } = deps;
  /** The token holder's name (for the audit log); refuses the request without a valid token. */
  const requireToken = (req: IncomingMessage): string => {
    if (!token.configured) throw new HttpError(403, 'writes are off: no ui.tokenFile is configured');
    const holder = token.holder(req.headers[TOKEN_HEADER]);
    if (!holder) throw new HttpError(401, `missing or wrong token (header ${TOKEN_HEADER})`);
    return holder;
  };
  /** The current recipe's reviewed false alarms whose images are not in its bank yet. */
  const falseAlarms = async (recipes: RecipeApi, recipe: string | undefined) => {
    if (!recipe) return [];
    const ids = gallery
      .list()
      .filter((i) => i.review?.label === 'false-alarm' && i.bank.startsWith(`${recipe}@`))
      .map((i) => i.id);
    return (await recipes.notAdded(recipe, ids)).map((id) => ({ id, path: gallery.file(id, 'image')! }));
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    const asset = ASSETS[path];
    if (asset && method === 'GET') {
      let body: Buffer;
      try {
        body = await readFile(`${deps.assetsDir}/${asset.file}`);
      } catch {
        throw new HttpError(503, `the page is not built (${deps.assetsDir}/${asset.file} missing): run 'npm run build'`);
      }
      return send(res, 200, body, asset.type);
    }
    if (path === '/api/status' && method === 'GET') return json(res, 200, deps.status());
    if (path === '/api/gallery' && method === 'GET') return json(res, 200, gallery.list());
    if (path === '/api/reviews' && method === 'GET') return json(res, 200, gallery.reviews(deps.threshold()));
    if (path === '/api/auth' && method === 'POST') {
      requireToken(req);
      res.writeHead(204, SECURITY_HEADERS);
      res.end();
      return;
    }
    if (path === '/api/recipes' || path.startsWith('/api/recipes/') || path === '/api/audit') return recipeRoute(req, res, path, method);
    const file = /^\/api\/gallery\/([^/]+)\/(image|overlay)$/.exec(path);
    if (file && method === 'GET') {
      const p = gallery.file(file[1]!, file[2] as 'image' | 'overlay');
      if (!p) throw new HttpError(404, 'no such gallery item');
      return send(res, 200, await readFile(p), file[2] === 'image' ? 'image/png' : 'image/jpeg');
    }
    const review = /^\/api\/gallery\/([^/]+)\/review$/.exec(path);
    if (review && method === 'POST') {
      requireToken(req);
      const body = (await readBody(req)) as { label?: unknown; defectClass?: unknown };
      if (body.label !== 'defect' && body.label !== 'false-alarm') throw new HttpError(400, "label must be 'defect' or 'false-alarm'");
      if (body.defectClass !== undefined && typeof body.defectClass !== 'string') throw new HttpError(400, 'defectClass must be a string');
      if (!gallery.get(review[1]!)) throw new HttpError(404, 'no such gallery item');
      let item;
      try {
        item = await gallery.review(review[1]!, body.label as Label, body.defectClass as string | undefined);
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
      deps.hub.broadcast({ type: 'gallery', item });
      return json(res, 200, item);
    }
    throw new HttpError(path.startsWith('/api/') || ASSETS[path] ? 405 : 404, 'not found');
  };

  const recipeRoute = async (req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> => {
    const recipes = deps.recipes;
    if (!recipes) {
      if (method === 'GET' && path === '/api/audit') return json(res, 200, []);
      if (method === 'GET')
        return json(res, 200, {
          enabled: false,
          running: String((deps.status() as { bank?: string }).bank ?? ''),
          recipes: [],
          falseAlarmsToAdd: 0,
        });
      throw new HttpError(409, 'no recipes are configured (config: recipes, model.recipe)');
    }
    if (method === 'GET' && path === '/api/recipes')
      return json(res, 200, await recipes.view((await falseAlarms(recipes, recipes.recipe)).length));
    if (method === 'GET' && path === '/api/audit') return json(res, 200, recipes.audit());
    const action = /^\/api\/recipes\/(select|activate|rollback|discard|teach|add-false-alarms|threshold)$/.exec(path)?.[1];
    if (!action || method !== 'POST') throw new HttpError(path === '/api/recipes' ? 405 : 404, 'not found');
    const actor = requireToken(req);
    const body = (await readBody(req)) as Record<string, unknown>;
    const recipe = typeof body.recipe === 'string' ? body.recipe : recipes.recipe;
    if (!recipe) throw new HttpError(400, 'recipe: missing');
    const version = () => {
      if (!Number.isInteger(body.version) || (body.version as number) < 1)
        throw new HttpError(400, 'version: a version number is required');
      return body.version as number;
    };
    try {
      let out: unknown = { ok: true };
      if (action === 'select') out = { bank: await recipes.select(recipe, actor) };
      else if (action === 'activate') await recipes.activate(recipe, version(), actor);
      else if (action === 'rollback') await recipes.rollback(recipe, actor);
      else if (action === 'discard') recipes.discard(recipe, version(), actor);
      else if (action === 'teach') {
        const frames = body.frames;
        if (!Number.isInteger(frames) || (frames as number) < 10 || (frames as number) > 5000)
          throw new HttpError(400, 'frames: an integer from 10 to 5000');
        out = recipes.teach(recipe, frames as number, actor);
      } else if (action === 'add-false-alarms') out = await recipes.addImages(recipe, await falseAlarms(recipes, recipe), actor);
      else {
        const t = body.threshold;
        if (typeof t !== 'number' || !(t > 0)) throw new HttpError(400, 'threshold: a positive number');
        const note = typeof body.note === 'string' ? body.note.slice(0, 200) : 'set on the operator page';
        const reviewed = gallery.reviews(t).items.map((i) => i.score);
        out = { bank: await recipes.threshold(recipe, t, note, reviewed, actor) };
      }
      return json(res, 200, out);
    } catch (e) {
      if (e instanceof HttpError) throw e;
      deps.log(`ui: ${action} ${recipe} by ${actor} refused: ${(e as Error).message}`);
      throw new HttpError(409, (e as Error).message);
    }
  };

  const server = createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) deps.log(`ui: ${req.method} ${(req.url ?? '').slice(0, 100)}: ${(e as Error).message}`);
      if (!res.headersSent) json(res, status, { error: (e as Error).message });
      else res.end();
    });
  });
  const wss = new WebSocketServer({ server, path: '/live', maxPayload: 1024 });
  wss.on('connection', (ws) => {
    // The page only listens: anything it sends is ignored.
    ws.on('message', () => undefined);
    deps.hub.attach(ws, deps.hello());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`ui: cannot listen on ${bind}:${port} (ui.bind, ui.port): ${e.code ?? e.message}`)),
    );
    server.listen(port, bind, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: async () => {
      deps.hub.close();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
