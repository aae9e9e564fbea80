// Flow control between a source and the pipeline's queue: a source awaits `room()` before it
// reads the next frame, so a 'block' queue policy stops reading instead of dropping.

export interface Flow {
  /** Resolves when the pipeline can take another frame. */
  room(): Promise<void>;
}
