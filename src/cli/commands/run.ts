// `patchline run --config FILE`: the inspection service, until the source ends or SIGTERM/SIGINT.
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { InspectionService } from '../../service/service.js';
import { systemdNotifier } from '../../service/systemd-notify.js';
import { optionalString, parseCommand, UsageError, type CommandSpec } from '../args.js';

export const runCommand: CommandSpec = {
  name: 'run',
  summary: 'run the inspection service: source -> PatchCore -> MQTT, with Prometheus metrics',
  usage: ['patchline run --config FILE [--set section.key=value ...]'],
  options: {
    config: { type: 'string', value: 'FILE', help: 'YAML or JSON config (see config/patchline.yaml and docs/configuration.md)' },
    set: { type: 'string', multiple: true, value: 'PATH=VALUE', help: 'override a config field, e.g. pipeline.batchSize=8 (repeatable)' },
    quiet: { type: 'boolean', help: 'no live status line' },
  },
  notes: 'Stops cleanly on SIGTERM/SIGINT: the source stops, queued frames are scored and published, the status goes offline.',
};

export function loadConfigOrUsage(file: string | undefined, sets: string[]): Config {
  try {
    return loadConfig(file, sets);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

/** One status line: rate, anomalies, queue, broker; rewritten in place on a terminal. */
export function startStatusLine(service: InspectionService, quiet: boolean): () => void {
  if (quiet) return () => {};
  const tty = process.stderr.isTTY;
  let lastFrames = 0;
  let lastAt = Date.now();
  const timer = setInterval(
    () => {
      const now = Date.now();
      const s = service.stats;
      const rate = ((s.framesOut - lastFrames) * 1000) / Math.max(1, now - lastAt);
      lastFrames = s.framesOut;
      lastAt = now;
      const last = s.last
        ? `last #${s.last.seq} score ${s.last.score.toFixed(2)} (${(100 * s.last.normalizedScore).toFixed(0)}%)`
        : 'waiting for frames';
      const line = `frames ${s.framesOut} (${rate.toFixed(1)}/s) | anomalies ${s.anomalies} | defects ${s.regions} | queue ${service.queueDepth} | mqtt ${service.mqttConnected ? 'up' : 'DOWN'} | ${last}`;
      process.stderr.write(tty ? `\r${line.padEnd(110).slice(0, 140)}` : `${line}\n`);
    },
    tty ? 1000 : 10_000,
  );
  return () => {
    clearInterval(timer);
    if (tty) process.stderr.write('\n');
  };
}

/** Runs a service until its source ends or a signal arrives; returns the exit code. */
export async function runService(
  service: InspectionService,
  opts: {
    quiet: boolean;
    log: (s: string) => void;
    onStarted?: () => Promise<void>;
    /** When the source has ended and every frame is handled (before stopping). */
    onDone?: () => Promise<void> | void;
    /** After the source ends, keep the service (its operator page) up until a signal. */
    keepServing?: boolean;
  },
): Promise<number> {
  const { quiet, log, onStarted, onDone, keepServing = false } = opts;
  const systemd = systemdNotifier(process.env, log);
  const stopExtending = systemd.starting();
  try {
    await service.start();
  } finally {
    stopExtending();
  }
  await onStarted?.();
  systemd.ready();
  // The event loop is responsive (this timer runs) and the pipeline has not failed.
  const stopWatchdog = systemd.watchdog(() => service.alive().ok);
  log(
    `running: metrics at ${service.metricsUrl ?? '(disabled)'}/metrics, MQTT ${service.mqttUrl}, topics ${service.config.mqtt.prefix}/${service.config.line}/${service.config.camera}/{result,heatmap,status}` +
      (service.pageUrl ? `, operator page ${service.pageUrl}` : ''),
  );
  const stopStatus = startStatusLine(service, quiet);
  let signalled = false;
  let signal: () => void = () => {};
  const signalledOnce = new Promise<void>((r) => (signal = r));
  const onSignal = (sig: string) => {
    if (signalled) return;
    signalled = true;
    signal();
    log(`\n${sig}: stopping the source and draining`);
    systemd.stopping();
    void service.stop();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  await service.done();
  await onDone?.();
  if (keepServing && !signalled && service.pageUrl) {
    stopStatus();
    log(`the web has ended; the operator page stays at ${service.pageUrl} until Ctrl-C`);
    await signalledOnce;
  }
  stopStatus();
  stopWatchdog();
  if (!signalled) await service.stop();
  const usage = process.resourceUsage();
  // VmHWM, not ru_maxrss: after fork + exec, ru_maxrss still counts the parent's pages (a
  // service started by a large process would report that process's size).
  const hwm = /VmHWM:\s+(\d+) kB/.exec(existsSync('/proc/self/status') ? readFileSync('/proc/self/status', 'utf8') : '');
  const peakKb = hwm ? Number(hwm[1]) : usage.maxRSS;
  const cpuS = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  const wallS = process.uptime();
  // A source faster than inference under drop-oldest loses frames to a full queue: say so where
  // the user looks, not only in /metrics.
  const drops = (await service.metrics.framesDropped.get()).values.filter((d) => d.value > 0);
  const dropped = drops.length
    ? ` (${drops.map((d) => `${d.value} dropped: ${String(d.labels.reason)}`).join(', ')}${drops.some((d) => d.labels.reason === 'queue_full') ? '; pipeline.queuePolicy: block makes the source wait instead' : ''})`
    : '';
  log(
    `stopped: ${service.stats.framesOut} frames${dropped}; since the process started ${wallS.toFixed(1)} s, CPU ${cpuS.toFixed(1)} s (${(cpuS / wallS).toFixed(2)} cores busy), peak RSS ${(peakKb / 1024).toFixed(0)} MB`,
  );
  return service.error ? 1 : 0;
}

export async function runRun(argv: string[]): Promise<void> {
  const v = parseCommand(runCommand, argv);
  if (!v) return;
  const file = optionalString(v, 'config');
  if (!file) throw new UsageError('patchline run: --config is required (start from config/patchline.yaml)');
  const config = loadConfigOrUsage(file, (v.set as string[] | undefined) ?? []);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const service = new InspectionService(config, log);
  const code = await runService(service, { quiet: Boolean(v.quiet), log });
  if (code !== 0) throw new Error(service.error?.message ?? 'pipeline failed');
}
