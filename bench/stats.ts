export interface BenchRow {
  name: string;
  value: number;
  unit: string;
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export const TABLE_HEAD = '| measurement | value | unit |\n|---|---:|---|';

export function formatRow(r: BenchRow): string {
  return `| ${r.name} | ${Math.abs(r.value) < 10 ? r.value.toFixed(3) : r.value.toFixed(1)} | ${r.unit} |`;
}
