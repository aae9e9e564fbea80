// What a source reports besides frames: the pipeline counts and logs these, and the service's
// health and status follow them.

export interface SourceEvents {
  /** A frame could not be read or decoded: counted and skipped. */
  onBadFrame(what: string, error: Error): void;
  /** A live source dropped and is reconnecting. */
  onReconnect(attempt: number, delayMs: number, error: Error): void;
  /** The source became unreachable (folder gone, camera lost) or reachable again. */
  onState?(up: boolean, detail: string): void;
  /** Items waiting at the source and not yet read (files in a watched folder). */
  onBacklog?(waiting: number): void;
}
