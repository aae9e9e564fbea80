// Bundles the operator page (src/ui/client) into dist/ui-assets: one script, one stylesheet
// (uPlot's included), the HTML. Everything the page needs ships in the package: plants are
// offline, there is no CDN.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const out = 'dist/ui-assets';
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ['src/ui/client/app.ts'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  outdir: out,
  entryNames: '[name]',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync('src/ui/client/index.html', `${out}/index.html`);
