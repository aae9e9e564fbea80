// The Magnetic Tile tune behind docs/ACCURACY.md: splits the dataset's test folder into a
// validation third and a held-out two thirds (every third file of each defect type, masks with
// them; symlinks), runs `patchline tune` on the validation part as a user would, and evaluates
// the documented best hand-made recipe on the same held-out part for comparison.
// Usage: node --import tsx bench/tune-magnetic-tile.ts [--budget MINUTES] [--out DIR] [DATASET_DIR] [-- TUNE OPTIONS]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

// Everything after `--` goes to `patchline tune` as it is (the search space, say).
const dash = process.argv.indexOf('--');
const tuneOptions = dash < 0 ? [] : process.argv.slice(dash + 1);
const { values: args, positionals } = parseArgs({
  args: process.argv.slice(2, dash < 0 ? undefined : dash),
  options: { budget: { type: 'string', default: '40' }, out: { type: 'string', default: 'tune-magnetic-tile' } },
  allowPositionals: true,
});
const data = resolve(positionals[0] ?? join(process.env.PATCHLINE_SHARED_DIR ?? '../shared', 'datasets', 'magnetic-tile'));
if (!existsSync(join(data, 'test'))) {
  process.stderr.write(`!!! ${data}/test is absent: set PATCHLINE_SHARED_DIR (or give the dataset folder) to run this bench\n`);
  process.exit(2);
}
const out = resolve(String(args.out));
const split = join(out, 'split');
rmSync(split, { recursive: true, force: true });

// Every third image of each type to validation, the rest to test; masks follow their image.
for (const defect of readdirSync(join(data, 'test')).sort()) {
  const files = readdirSync(join(data, 'test', defect)).sort();
  files.forEach((f, i) => {
    const part = i % 3 === 0 ? 'validation' : 'test';
    mkdirSync(join(split, part, 'test', defect), { recursive: true });
    symlinkSync(join(data, 'test', defect, f), join(split, part, 'test', defect, f));
    const mask = `${basename(f, extname(f))}_mask.png`;
    if (defect !== 'good' && existsSync(join(data, 'ground_truth', defect, mask))) {
      mkdirSync(join(split, part, 'ground_truth', defect), { recursive: true });
      symlinkSync(join(data, 'ground_truth', defect, mask), join(split, part, 'ground_truth', defect, mask));
    }
  });
}

const cli = (...a: string[]) => {
  process.stderr.write(`$ patchline ${a.join(' ')}\n`);
  const r = spawnSync(process.execPath, [resolve('bin/patchline.js'), ...a], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

const t0 = performance.now();
cli(
  'tune',
  '--data',
  data,
  '--validation',
  join(split, 'validation'),
  '--test',
  join(split, 'test'),
  '--budget',
  String(args.budget),
  '--out',
  join(out, 'tune'),
  ...tuneOptions,
);
const tuneMinutes = (performance.now() - t0) / 60_000;

// The best recipe of docs/ACCURACY.md's hand-made sweep, on the same held-out part.
const handBank = join(out, 'hand-made.bank');
cli(
  'fit',
  '--data',
  data,
  '--backbone',
  'mobilenetv2',
  '--layers',
  'features.13,features.16',
  '--size',
  '224x224',
  '--pretrain-dim',
  '256',
  '--target-dim',
  '512',
  '--coreset',
  '0.1',
  '--sigma',
  '16',
  '--out',
  handBank,
);
cli('eval', '--bank', handBank, '--data', join(split, 'test'), '--json', join(out, 'hand-made-test.json'), '--misses', '0');
const hand = JSON.parse(readFileSync(join(out, 'hand-made-test.json'), 'utf8')) as Record<string, number>;
const tuned = JSON.parse(readFileSync(join(out, 'tune', 'recommended.json'), 'utf8')) as {
  candidate: { id: string; fps: number; accuracy: Record<string, number> };
  test: { accuracy: Record<string, number> };
};
process.stdout.write(
  `${JSON.stringify({
    tune_minutes: Math.round(tuneMinutes * 10) / 10,
    recommended: tuned.candidate.id,
    fps: tuned.candidate.fps,
    validation: tuned.candidate.accuracy,
    test: tuned.test.accuracy,
    hand_made_test: { image_auroc: hand.image_auroc, pixel_auroc: hand.pixel_auroc, aupro: hand.aupro },
  })}\n`,
);
