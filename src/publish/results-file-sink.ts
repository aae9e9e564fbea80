// Every result appended to a local file, one JSON object per line (the MQTT result payload): a
// record that needs no broker. A file that cannot be written is logged; MQTT goes on.
import { createWriteStream, type WriteStream } from 'node:fs';
import type { ResultSink, ScoredResult } from './result-sink.js';

export class ResultsFileSink implements ResultSink {
  readonly name = 'results file';
  private readonly stream: WriteStream;

  constructor(file: string, log: (s: string) => void) {
    this.stream = createWriteStream(file, { flags: 'a' });
    this.stream.on('error', (e) => log(`output.resultsFile ${file}: ${e.message}; results still go to MQTT`));
  }

  handle(result: ScoredResult): void {
    this.stream.write(`${JSON.stringify(result.payload())}\n`);
  }

  close(): Promise<void> {
    return new Promise<void>((r) => this.stream.end(r));
  }
}
