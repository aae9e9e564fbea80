// Progress with ETA on stderr: a live bar on a terminal, a line every few seconds otherwise
// (journald, CI logs), so long fits and evals never look hung. With PATCHLINE_PROGRESS=json, one
// JSON object a line ({"progress":label,"done","total","unit"}) for a program that follows it
// (the service running a teach shows it on the operator page).
import cliProgress from 'cli-progress';

export interface Progress {
  tick(n?: number): void;
  stop(): void;
}

export function progress(label: string, total: number, unit = 'items'): Progress {
  if (process.env.PATCHLINE_PROGRESS === 'json') {
    let done = 0;
    let last = 0;
    const emit = () => process.stderr.write(`${JSON.stringify({ progress: label, done, total, unit })}\n`);
    emit();
    return {
      tick(n = 1) {
        done += n;
        if (Date.now() - last > 250 || done === total) {
          last = Date.now();
          emit();
        }
      },
      stop: emit,
    };
  }
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | ETA {eta_formatted} | {duration_formatted}`,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return { tick: (n = 1) => bar.increment(n), stop: () => bar.stop() };
  }
  const start = Date.now();
  let done = 0;
  let lastPrint = 0;
  const print = () => {
    const elapsed = (Date.now() - start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
    process.stderr.write(
      `${label}: ${done}/${total} ${unit} (${Math.round((100 * done) / Math.max(total, 1))}%), ${elapsed.toFixed(1)} s elapsed, ETA ${Number.isFinite(eta) ? `${eta.toFixed(1)} s` : '?'}\n`,
    );
  };
  return {
    tick(n = 1) {
      done += n;
      if (Date.now() - lastPrint > 5000 || done === total) {
        lastPrint = Date.now();
        print();
      }
    },
    stop() {
      if (done !== total) print();
    },
  };
}
