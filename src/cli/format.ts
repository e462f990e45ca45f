/** Small text formatters shared by the human-facing CLI commands (`ferry status`, `ferry runs watch`, `ferry images`). */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** 1536 → "1.5 KiB"; binary units, three significant digits past 1 KiB. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${UNITS[unit]}`;
}

/** Throughput: "12.5 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** A duration in seconds as "45s", "3m05s", "2h07m", "3d04h". */
export function formatDuration(totalSeconds: number): string {
  if (!Number.isFinite(totalSeconds)) return '?';
  const s = Math.max(0, Math.round(totalSeconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** How long ago `then` was: "3m05s ago" (or "just now"). */
export function formatAge(then: Date | number, now: number = Date.now()): string {
  const ms = now - (typeof then === 'number' ? then : then.getTime());
  if (ms < 1000) return 'just now';
  return `${formatDuration(ms / 1000)} ago`;
}

/** When `at` comes relative to now: "in 2h05m", or "due" once it has passed. */
export function formatUntil(at: Date | number | undefined, now: number = Date.now()): string {
  if (at === undefined) return '-';
  const ms = (typeof at === 'number' ? at : at.getTime()) - now;
  if (ms <= 0) return 'due';
  return `in ${formatDuration(ms / 1000)}`;
}

/** An ISO time to the second, UTC: "2026-11-22T14:00:05Z". */
export function formatTime(at: Date | number | undefined): string {
  if (at === undefined) return '-';
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "25%" → 25; anything else → undefined. */
export function parsePercent(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  if (!match) return undefined;
  return Math.max(0, Math.min(100, Number(match[1])));
}

/**
 * A plain-text table: a header row, then rows, columns padded to their widest cell and separated by two spaces.
 * The last column is not padded (no trailing blanks).
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** One line, whatever the text: newlines and runs of blanks become single spaces. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
