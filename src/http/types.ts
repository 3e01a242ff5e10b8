/** Transport-neutral HTTP: the Lambda (Function URL / API Gateway v2) and local adapters map to these. */
import type { ErrorCode } from '../api/wire.js';

export interface HttpRequest {
  method: string;
  /** Path without the query string, as routed (an API Gateway stage prefix removed). */
  path: string;
  /**
   * The path as the caller addressed it (with an API Gateway stage, `/prod/v1/…`): what a v2
   * signature covers. Default: `path`.
   */
  signedPath?: string;
  query: URLSearchParams;
  /** Header names lower-cased. */
  headers: Record<string, string | undefined>;
  /** The raw body, exactly as received: signatures are computed over it. */
  body: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What a route returns: the response, and work that may go on after it (reported elsewhere). */
export interface Handled {
  response: HttpResponse;
  /** Settles when the follow-up (e.g. posting the outcome to Slack's response_url) is done. */
  background?: Promise<void>;
}

/** A refusal: `{error, code}` and the status, the one shape of every non-2xx answer (see api/wire.ts). */
export const refusal = (
  status: number,
  code: ErrorCode,
  error: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): HttpResponse => json(status, { error, code, ...extra }, headers);

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
