// What a source reports besides frames: the pipeline counts and logs these.

export interface SourceEvents {
  /** A frame could not be read or decoded: counted and skipped. */
  onBadFrame(what: string, error: Error): void;
  /** A live source dropped and is reconnecting. */
  onReconnect(attempt: number, delayMs: number, error: Error): void;
}
