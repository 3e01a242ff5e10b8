/**
 * Reading config files (YAML or JSON) for the CLI and the CDK app. Kept apart from the
 * compiler in load.ts so Lambda bundles (which read JSON) carry no YAML parser.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { type WatchdogConfig, compileConfig } from './load.js';

export function parseConfigText(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${source}: ${e.message.split('\n')[0]}`));
  }
  return doc.toJS();
}

export function loadConfig(file: string): WatchdogConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  return compileConfig(parseConfigText(text, file), path.dirname(path.resolve(file)));
}
