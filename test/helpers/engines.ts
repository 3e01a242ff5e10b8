import { type Engine, javaAvailable, startDynalite, startDynamoDbLocal } from '../../src/local/engines.js';

export interface EngineSpec {
  name: string;
  start: () => Promise<Engine>;
}

/**
 * Store tests run against both real engines. DynamoDB Local needs Java: CI installs it;
 * without it `npm test` fails loudly rather than silently testing less (`npm run test:unit`
 * is the explicit, smaller run).
 */
const ALL: EngineSpec[] = [
  { name: 'dynalite', start: () => startDynalite() },
  {
    name: 'DynamoDB Local',
    start: () => {
      if (!javaAvailable()) throw new Error('DynamoDB Local needs Java (apt-get install -y openjdk-17-jre-headless); .ci/run installs it');
      return startDynamoDbLocal();
    },
  },
];

/** `npm run test:unit` (WATCHDOG_TEST_NO_JAVA=1) runs the store suite on dynalite only; `npm test` on both. */
export const ENGINES: EngineSpec[] = process.env.WATCHDOG_TEST_NO_JAVA === '1' ? ALL.filter((e) => e.name === 'dynalite') : ALL;
