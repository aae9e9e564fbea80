// systemd integration for Type=notify units: READY=1 once the service runs, WATCHDOG=1 pings
// while it is healthy (a hung or failed pipeline stops them and systemd restarts the service),
// STOPPING=1 on shutdown. Node cannot send unix datagrams, so this calls systemd-notify with
// --pid (the unit needs NotifyAccess=all). Outside systemd (no NOTIFY_SOCKET) it does nothing.
import { execFile } from 'node:child_process';

export interface Notifier {
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
