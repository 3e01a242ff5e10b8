import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

export interface ClientOptions {
  region?: string;
  /** A local engine (dynalite, DynamoDB Local) or any DynamoDB-compatible endpoint. */
  endpoint?: string;
  /**
   * Per attempt: how long a request and its answer may take before the attempt fails (and is
   * retried). Lambda sets it; without it, no limit (a local engine under a test's load of
   * thousands of queued writes must not fail for being slow).
   */
  requestTimeoutMs?: number;
  /** Attempts per call (throttling, 5xx, timeouts), with the SDK's backoff. Default 5. */
  maxAttempts?: number;
}

/** One client per process; local endpoints get dummy credentials so no AWS account is needed. */
export function dynamoClient(opts: ClientOptions = {}): DynamoDBClient {
  // A sweep keeps hundreds of conditional writes in flight; the SDK's default is 50 sockets.
  // Bounded in time: a call that never answers fails after requestTimeoutMs per attempt (the
  // SDK's default waits forever, and without throwOnRequestTimeout only warns), so a hung
  // DynamoDB cannot hold a sweep to its Lambda timeout.
  const config: DynamoDBClientConfig = {
    maxAttempts: opts.maxAttempts ?? 5,
    requestHandler: {
      connectionTimeout: 2_000,
      ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeout: opts.requestTimeoutMs, throwOnRequestTimeout: true }),
      httpAgent: { maxSockets: 256, keepAlive: true },
      httpsAgent: { maxSockets: 256, keepAlive: true },
    },
  };
  if (opts.region) config.region = opts.region;
  if (opts.endpoint) {
    config.endpoint = opts.endpoint;
    config.region ??= 'local';
    config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  }
  return new DynamoDBClient(config);
}
