/**
 * Structured logging behind a small interface: Powertools Logger in Lambda (same method
 * shapes), JSON lines or nothing locally. Callers pass ids and decisions as fields, never
 * secrets; `redact` scrubs anything that looks like a credential from error text.
 */
export type Fields = Record<string, unknown>;

export interface Log {
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
}

export const silentLog: Log = { info() {}, warn() {}, error() {} };

/** Remove bearer tokens, API keys and Slack tokens from free text (error messages). */
export function redact(text: string): string {
  return text
    .replace(/(bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]')
    .replace(/xox[abpors]-[A-Za-z0-9-]+/g, '[redacted]')
    .replace(/((?:api[-_]?key|token|secret|password)["']?\s*[:=]\s*["']?)[^"'\s,}]+/gi, '$1[redacted]');
}
