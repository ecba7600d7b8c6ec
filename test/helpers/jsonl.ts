import { existsSync, readFileSync } from 'node:fs';

// JSON Lines files that a running process is still appending to: the last line may be half written when a
// test reads it, so only complete lines (those ending in a newline) are parsed.

/** The complete lines of a JSON Lines file, parsed; [] when the file does not exist yet. */
export function readJsonl<T = Record<string, unknown>>(file: string): T[] {
  if (!existsSync(file)) return [];
  return parseJsonl<T>(readFileSync(file, 'utf8'));
}

/** The complete lines of JSON Lines text, parsed (a trailing line without its newline is left out). */
export function parseJsonl<T = Record<string, unknown>>(text: string): T[] {
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line still being written
  return lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}
