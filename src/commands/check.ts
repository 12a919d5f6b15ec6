/**
 * `sfmc-bridge check`: validates the config, checks force-app against what Salesforce accepts,
 * cross-checks the two, and, when the config's credentials are in the environment, describes
 * the objects in the org and fetches a Marketing Cloud token. Exit codes: 0 no errors (warnings
 * allowed), 1 at least one error, 2 the config itself is invalid (thrown as ConfigError).
 */
import { credentialStatus, load, parseConfig, readConfigFile, resolveConfigPath, type Env } from '../config/load.ts';
import type { BridgeConfig } from '../config/schema.ts';
import { openSalesforceSession, type SalesforceAuth } from '../salesforce/auth.ts';
import { crossCheckConfig } from '../metadata/cross-check.ts';
import { finding, formatFinding, hasErrors, sortFindings, type Finding } from '../metadata/findings.ts';
import { readForceApp, shownPath } from '../metadata/force-app.ts';
import { jsforceDescribe, probeMarketingCloud, probeSalesforce, type Describe } from '../metadata/org-probe.ts';
import { checkForceApp } from '../metadata/rules.ts';

/** Options of `check`. */
export interface CheckOptions {
  config?: string;
  /** The package directory to check. @default 'force-app' */
  forceApp?: string;
  json?: boolean;
  /** Skip the online checks even when credentials are set. */
  offline?: boolean;
  env?: Env;
  /** Where the report goes. @default process.stdout */
  out?: { write(text: string): unknown };
  /** Describe function for the online check (tests). @default jsforce, with the config's credentials */
  describe?: (auth: SalesforceAuth, apiVersion: string) => Promise<Describe>;
}

/** Everything `check` found. */
export interface CheckReport {
  ok: boolean;
  config: string;
  forceApp: string;
  components: number;
  online: boolean;
  findings: Finding[];
}

/** The org's auth, by whichever method the config names (the same session `start` opens). */
async function salesforceAuth(config: BridgeConfig): Promise<SalesforceAuth> {
  return (await openSalesforceSession(config.salesforce)).auth;
}

/** Runs every check and returns the report (never exits; the CLI turns it into an exit code). */
export async function check(opts: CheckOptions = {}): Promise<CheckReport> {
  const env = opts.env ?? process.env;
  const path = resolveConfigPath(opts.config, env);
  const input = readConfigFile(path);
  const parsed = parseConfig(input); // a ConfigError here is exit code 2, like start
  const forceAppDir = opts.forceApp ?? 'force-app';
  const app = await readForceApp(forceAppDir);
  const findings = checkForceApp(app);
  const cross = await crossCheckConfig(parsed, app);
  findings.push(...cross.findings);

  const status = credentialStatus(input, env);
  let online = false;
  if (opts.offline) {
    findings.push(finding('info', 'online', 'online checks skipped (--offline)'));
  } else if (!status.complete) {
    const missing = status.missing.map((m) => m.variable).join(', ');
    findings.push(finding('info', 'online', `online checks skipped: ${missing} not set`, { key: status.missing[0]!.key }));
  } else {
    online = true;
    const config = load(input, env);
    const auth = await salesforceAuth(config);
    try {
      const describe = await (opts.describe ?? jsforceDescribe)(auth, config.salesforce.apiVersion);
      findings.push(...(await probeSalesforce({ config, sources: cross.sources }, describe)));
    } catch (err) {
      findings.push(
        finding('error', 'org-describe', `cannot reach Salesforce at ${config.salesforce.instanceUrl}: ${(err as Error).message}`, {
          key: 'salesforce.instanceUrl',
        }),
      );
    }
    findings.push(...(await probeMarketingCloud(config)));
  }
  return {
    ok: !hasErrors(findings),
    config: path,
    forceApp: forceAppDir,
    components: app.components.length,
    online,
    findings: sortFindings(findings),
  };
}

/** Human-readable report: one line per finding, then a summary. */
export function formatReport(report: CheckReport): string {
  const lines = [
    `sfmc-bridge check: ${report.config} against ${shownPath(report.forceApp)} (${report.components} components)${report.online ? ', online' : ''}`,
  ];
  for (const f of report.findings) lines.push(formatFinding(f, report.config));
  const count = (s: Finding['severity']) => report.findings.filter((f) => f.severity === s).length;
  const errors = count('error');
  const warnings = count('warning');
  lines.push(errors === 0 ? `ok: no errors${warnings > 0 ? `, ${warnings} warning(s)` : ''}` : `failed: ${errors} error(s), ${warnings} warning(s)`);
  return `${lines.join('\n')}\n`;
}

/** `sfmc-bridge check`; resolves to the exit code (0 clean, 1 errors). */
export async function runCheck(opts: CheckOptions = {}): Promise<number> {
  const report = await check(opts);
  const out = opts.out ?? process.stdout;
  out.write(opts.json ? `${JSON.stringify(report)}\n` : formatReport(report));
  return report.ok ? 0 : 1;
}
