/**
 * How a command that failed says so: one line of text on stderr, or, with `--json`, one JSON
 * object in the shape the `sf` CLI uses (`{"status": 2, "name": "ConfigError", "message": ...}`)
 * so a script reading `--json` output never has to parse prose. Both carry the exit code.
 */
import { CommanderError } from 'commander';
import { BridgeError, ConfigError } from '../core/errors.ts';
import { maskPersonal } from '../core/log.ts';

/** Exit code for invalid configuration or arguments. */
export const EXIT_CONFIG = 2;
/** Exit code for a fatal runtime error (and an operator command's plain failure). */
export const EXIT_FATAL = 1;

/** A failure as `--json` prints it. */
export interface FailureJson {
  status: number;
  name: string;
  message: string;
  /** The error's stable code, when it has one (`CONFIG_INVALID`, `STORE_NOT_FOUND`, ...). */
  code?: string;
  /** The dotted config key at fault, for a ConfigError. */
  key?: string;
}

/** The exit code an error ends the process with. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_CONFIG;
  return err instanceof ConfigError ? EXIT_CONFIG : EXIT_FATAL;
}

/**
 * The JSON form. Messages are masked like the logs: at this point the config (and its
 * `log.allowPersonalData`) may be the very thing that failed to load.
 */
export function failureJson(err: unknown): FailureJson {
  const status = exitCodeOf(err);
  if (err instanceof CommanderError) return { status, name: 'UsageError', message: err.message.replace(/^error: /, ''), code: err.code };
  const e = err instanceof Error ? err : new Error(String(err));
  const out: FailureJson = { status, name: e.name, message: maskPersonal(e.message) };
  if (e instanceof BridgeError) out.code = e.code;
  if (e instanceof ConfigError) out.key = e.key;
  return out;
}

/** The text form, one line (a fatal error adds its stack, masked, for the bug report). */
export function failureText(err: unknown): string {
  if (err instanceof ConfigError) return `sfmc-bridge: invalid configuration: ${maskPersonal(err.message)}\n`;
  if (err instanceof BridgeError) return `sfmc-bridge: ${maskPersonal(err.message)}\n`;
  return `sfmc-bridge: fatal: ${maskPersonal((err as Error)?.stack ?? String(err))}\n`;
}
