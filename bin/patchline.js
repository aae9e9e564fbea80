#!/usr/bin/env node
// Entry point of the installed CLI: runs the compiled TypeScript in dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("patchline: dist/ is missing; run 'npm run build' (or 'npm ci', which builds it) in the patchline folder\n");
  process.exit(1);
}
// Output piped into `head` and closed early is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
