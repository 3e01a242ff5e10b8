import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

export interface ClientOptions {
  region?: string;
  /** A local engine (dynalite, DynamoDB Local) or any DynamoDB-compatible endpoint. */
  endpoint?: string;
}

/** One client per process; local endpoints get dummy credentials so no AWS account is needed. */
export function dynamoClient(opts: ClientOptions = {}): DynamoDBClient {
  // A sweep keeps hundreds of conditional writes in flight; the SDK's default is 50 sockets.
  const config: DynamoDBClientConfig = {
    maxAttempts: 5,
    requestHandler: { httpAgent: { maxSockets: 256, keepAlive: true }, httpsAgent: { maxSockets: 256, keepAlive: true } },
  };
  if (opts.region) config.region = opts.region;
  if (opts.endpoint) {
    config.endpoint = opts.endpoint;
    config.region ??= 'local';
    config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  }
  return new DynamoDBClient(config);
}
