import { type Engine, javaAvailable, startDynalite, startDynamoDbLocal } from '../../src/local/engines.js';

export interface EngineSpec {
  name: string;
  start: () => Promise<Engine>;
}

/**
 * Store tests run against both real engines. DynamoDB Local needs Java: CI installs it;
 * without it the suite fails loudly rather than silently testing less.
 */
export const ENGINES: EngineSpec[] = [
  { name: 'dynalite', start: () => startDynalite() },
  {
    name: 'DynamoDB Local',
    start: () => {
      if (!javaAvailable()) throw new Error('DynamoDB Local needs Java (apt-get install -y openjdk-17-jre-headless); .ci/run installs it');
      return startDynamoDbLocal();
    },
  },
];
