/**
 * Crash consistency for the embedded store. dynalite writes an item and its index entries
 * as separate LevelDB operations (delete old index keys, put new ones, put the item), so a
 * kill between them leaves an index out of step with its item: an entry missing (the sweep
 * never finds the execution again) or a stale one (it finds a version that never landed).
 * The item is the truth. After an unclean stop — no clean-shutdown mark — every index is
 * rebuilt from the items, with dynalite's own index-key function, before dynalite opens.
 *
 * LevelDB layout used by dynalite 4.0.0 (`db/index.js`, pinned in package.json):
 *   table~<name>                              the table description (JSON)
 *   item-<table>~<key>                        an item (DynamoDB JSON)
 *   index-{global,local}~<table>~<index>~<k>  an index entry (projected item)
 */
import { createRequire } from 'node:module';
import { Level } from 'level';

const CLEAN_MARK = 'watchdog~clean-shutdown';
const END = '\uffff';
const BATCH = 1000;

type Item = Record<string, Record<string, unknown>>;
interface TableDescription {
  TableName: string;
  GlobalSecondaryIndexes?: unknown[];
  LocalSecondaryIndexes?: unknown[];
}
interface IndexAction {
  index: string;
  key: string;
  item: Item;
}

const require = createRequire(import.meta.url);
const dynaliteDb = require('dynalite/db/index.js') as {
  getIndexActions(indexes: unknown[], existing: Item | null, item: Item, table: TableDescription): { puts: IndexAction[]; deletes: IndexAction[] };
};

export interface ReindexReport {
  tables: number;
  items: number;
  /** Index entries before (stale ones included) and after. */
  entriesBefore: number;
  entriesAfter: number;
  ms: number;
}

type Db = Level<string, unknown>;

async function deleteRange(db: Db, prefix: string): Promise<number> {
  let n = 0;
  let ops: Array<{ type: 'del'; key: string }> = [];
  for await (const key of db.keys({ gte: prefix, lt: `${prefix}${END}` })) {
    ops.push({ type: 'del', key });
    n++;
    if (ops.length >= BATCH) {
      await db.batch(ops);
      ops = [];
    }
  }
  if (ops.length > 0) await db.batch(ops);
  return n;
}

/** Rebuild every index of every table from its items (the folder must not be open elsewhere). */
export async function reindex(db: Db): Promise<ReindexReport> {
  const started = performance.now();
  const report: ReindexReport = { tables: 0, items: 0, entriesBefore: 0, entriesAfter: 0, ms: 0 };
  const tables: TableDescription[] = [];
  for await (const value of db.values({ gte: 'table~', lt: `table~${END}` })) tables.push(value as TableDescription);
  for (const table of tables) {
    report.tables++;
    for (const type of ['global', 'local']) report.entriesBefore += await deleteRange(db, `index-${type}~${table.TableName}~`);
    let ops: Array<{ type: 'put'; key: string; value: unknown }> = [];
    for await (const item of db.values({ gte: `item-${table.TableName}~`, lt: `item-${table.TableName}~${END}` })) {
      report.items++;
      for (const [type, indexes] of [
        ['global', table.GlobalSecondaryIndexes],
        ['local', table.LocalSecondaryIndexes],
      ] as const) {
        if (!indexes?.length) continue;
        for (const put of dynaliteDb.getIndexActions(indexes, null, item as Item, table).puts) {
          ops.push({ type: 'put', key: `index-${type}~${table.TableName}~${put.index}~${put.key}`, value: put.item });
          report.entriesAfter++;
        }
      }
      if (ops.length >= BATCH) {
        await db.batch(ops);
        ops = [];
      }
    }
    if (ops.length > 0) await db.batch(ops);
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}

/**
 * Before dynalite opens the folder: consume the clean-shutdown mark, or (after a crash)
 * rebuild the indexes. Returns the rebuild's report, or undefined after a clean stop.
 */
export async function recoverIfUnclean(dataDir: string): Promise<ReindexReport | undefined> {
  const db: Db = new Level<string, unknown>(dataDir, { valueEncoding: 'json' });
  await db.open();
  try {
    if ((await db.get(CLEAN_MARK)) !== undefined) {
      await db.del(CLEAN_MARK);
      return undefined;
    }
    return await reindex(db);
  } finally {
    await db.close();
  }
}

/** After dynalite closed the folder cleanly: the next open may skip the rebuild. */
export async function markCleanShutdown(dataDir: string): Promise<void> {
  const db: Db = new Level<string, unknown>(dataDir, { valueEncoding: 'json' });
  await db.open();
  try {
    await db.put(CLEAN_MARK, true);
  } finally {
    await db.close();
  }
}
