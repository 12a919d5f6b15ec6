/**
 * A finding: one thing `check` (or the metadata tests) found wrong or worth knowing, naming the
 * rule, the force-app file and the config key involved so the reader can go straight to it.
 */
import { shownPath } from './force-app.ts';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  /** Stable rule ID, e.g. `event-high-volume`. */
  rule: string;
  message: string;
  /** The force-app file (or sfdx-project.json) concerned. */
  file?: string;
  /** Dotted config key concerned, e.g. `routes[1].mapping.data.Email`. */
  key?: string;
}

/** A finding, with `file` shown relative to the working directory. */
export function finding(
  severity: Severity,
  rule: string,
  message: string,
  where: { file?: string | undefined; key?: string | undefined } = {},
): Finding {
  const f: Finding = { severity, rule, message };
  if (where.file !== undefined) f.file = shownPath(where.file);
  if (where.key !== undefined) f.key = where.key;
  return f;
}

/** True when any finding is an error. */
export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

/** One line per finding: `error   [rule] key (config) | file: message`. */
export function formatFinding(f: Finding, configPath?: string): string {
  const where: string[] = [];
  if (f.key !== undefined) where.push(configPath ? `${configPath} ${f.key}` : f.key);
  if (f.file !== undefined) where.push(f.file);
  return `${f.severity.padEnd(7)} [${f.rule}] ${where.length > 0 ? `${where.join(' | ')}: ` : ''}${f.message}`;
}

/** Errors first, then warnings, then notes; stable within a severity. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  const order: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => order[a.f.severity] - order[b.f.severity] || a.i - b.i)
    .map((x) => x.f);
}
