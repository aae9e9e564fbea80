// Text from outside (MQTT payloads, file names, error messages) on its way into a log line:
// quoted, control characters escaped, and clipped, so a hostile 10 MB path stays one short line.

export function clip(text: string, max = 200): string {
  const quoted = JSON.stringify(text.length > max ? text.slice(0, max) : text);
  return text.length > max ? `${quoted}… (${text.length} characters)` : quoted;
}
