// systemd integration for Type=notify units: EXTEND_TIMEOUT_USEC while the model loads (a
// first TensorRT engine build outlasts any start timeout), READY=1 once the service runs,
// WATCHDOG=1 pings while it is healthy (a hung, stalled or failed pipeline stops them and systemd
// restarts the service), STOPPING=1 on shutdown. Node cannot send unix datagrams, so this calls systemd-notify with
// --pid (the unit needs NotifyAccess=all). Outside systemd (no NOTIFY_SOCKET) it does nothing.
import { execFile } from 'node:child_process';

/** While starting, the start timeout is extended by this much every half of it. */
export const START_EXTENSION_USEC = 120_000_000;
/** ... for at most this long: a start that takes longer is stuck, and systemd may give up on it. */
export const MAX_START_MS = 60 * 60_000;

export interface Notifier {
  /**
   * Keeps systemd's start timeout from expiring while the model loads (a first TensorRT engine
   * build takes minutes): EXTEND_TIMEOUT_USEC now and periodically; returns a stop function.
   */
  starting(extensionUsec?: number, maxMs?: number): () => void;
  ready(): void;
  stopping(): void;
  /** Pings the watchdog every half period while `healthy()`; returns a stop function. */
  watchdog(healthy: () => boolean): () => void;
}

export function systemdNotifier(
  env: NodeJS.ProcessEnv = process.env,
  log: (s: string) => void = () => {},
  binary = 'systemd-notify',
): Notifier {
  const active = Boolean(env.NOTIFY_SOCKET);
  const send = (...state: string[]) => {
    if (!active) return;
    execFile(binary, [`--pid=${process.pid}`, ...state], { env }, (e) => {
      if (e) log(`systemd-notify ${state.join(' ')} failed: ${e.message}`);
    });
  };
  return {
    starting(extensionUsec = START_EXTENSION_USEC, maxMs = MAX_START_MS) {
      if (!active) return () => {};
      const until = Date.now() + maxMs;
      const extend = () => {
        if (Date.now() < until) send(`EXTEND_TIMEOUT_USEC=${extensionUsec}`, 'STATUS=loading the model');
      };
      extend();
      const timer = setInterval(extend, extensionUsec / 2000);
      return () => clearInterval(timer);
    },
    ready: () => send('--ready', 'STATUS=running'),
    stopping: () => send('STOPPING=1', 'STATUS=draining'),
    watchdog(healthy) {
      const usec = Number(env.WATCHDOG_USEC);
      if (!active || !(usec > 0)) return () => {};
      const timer = setInterval(() => {
        if (healthy()) send('WATCHDOG=1');
      }, usec / 2000);
      return () => clearInterval(timer);
    },
  };
}
