// Each upstream target's catalog as last read, for the SQL analysis: read on a connection of
// the gateway's own at the first login to the target, again when older than the refresh
// interval or after a session changed the schema. A login waits for the first read only;
// later reads run beside the sessions, which go on with the snapshot they have.
import { createHash } from 'node:crypto';
import { Catalog } from '../sql/catalog.js';
import { readCatalog } from '../upstream/catalog.js';
import { connectUpstream, type UpstreamTarget } from '../upstream/connect.js';
import { TERMINATE } from '../wire/index.js';
import { log } from '../util/logger.js';

export interface CatalogsOptions {
  /** Read a target's catalog again when the one held is older than this (ms). */
  refreshMs: () => number;
  /** Startup settings for the gateway's own connection (the pinned ones). */
  settings: () => Record<string, string>;
  /** Take and give back an upstream connection slot of the target. */
  acquire: (target: string) => boolean;
  release: (target: string) => void;
}

interface Entry {
  /** The target as at the login that first asked (the entries are cleared on reload). */
  target: UpstreamTarget;
  catalog?: Catalog;
  /** Digest of the listing the catalog was built from: an unchanged re-read keeps it. */
  digest?: string;
  readAt: number;
  /** Bumped by every schema change. */
  generation: number;
  /** The generation when the catalog held was read (a later change makes it stale). */
  readGeneration?: number;
  reading?: Promise<void>;
  /** When the last read failed (reads are not retried sooner than RETRY_MS after). */
  failedAt?: number;
}

const RETRY_MS = 5_000;

export class Catalogs {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: CatalogsOptions) {}

  /**
   * The catalog held for a target (the hot path: a look-up per analysis). Starts a read
   * beside when the one held is due, so long-lived sessions see changes too.
   */
  current(target: string): Catalog | undefined {
    const e = this.entries.get(target);
    if (e === undefined) return undefined;
    if (e.reading === undefined && this.due(e)) void this.start(e);
    return e.catalog;
  }

  /**
   * Before a login to `target` is let in: read its catalog if none is held yet (waiting
   * for it, at most the target's connect timeout), or start a read beside if the one held
   * is due. Never throws: without a catalog the analysis is as it would be with none.
   */
  async ensure(target: UpstreamTarget): Promise<void> {
    let e = this.entries.get(target.name);
    if (!e) this.entries.set(target.name, (e = { target, readAt: 0, generation: 0 }));
    if (!this.due(e)) return;
    const reading = e.reading ?? this.start(e);
    if (e.catalog) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      reading,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, target.connectTimeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** A session committed a change to the schema: the next login reads the catalog again. */
  changed(target: string): void {
    const e = this.entries.get(target);
    if (e) e.generation++;
  }

  /** Forget every target's catalog (targets changed on reload). */
  clear(): void {
    this.entries.clear();
  }

  /** Whether a read is due: none held, stale or old, and no failure in the last RETRY_MS. */
  private due(e: Entry): boolean {
    const now = Date.now();
    const stale = e.readGeneration !== e.generation;
    if (!stale && now - e.readAt < this.opts.refreshMs()) return false;
    return e.failedAt === undefined || now - e.failedAt >= RETRY_MS;
  }

  private start(e: Entry): Promise<void> {
    const reading: Promise<void> = this.read(e).finally(() => {
      if (e.reading === reading) e.reading = undefined;
    });
    e.reading = reading;
    return reading;
  }

  private async read(e: Entry): Promise<void> {
    const { target, generation } = e;
    if (!this.opts.acquire(target.name)) {
      // Every upstream slot is taken: try again later rather than at every statement.
      e.failedAt = Date.now();
      return;
    }
    let socket: import('node:net').Socket | undefined;
    try {
      const up = await connectUpstream(target, this.opts.settings());
      socket = up.socket;
      socket.on('error', () => socket?.destroy());
      let timer: NodeJS.Timeout | undefined;
      const listing = await Promise.race([
        readCatalog(socket),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('catalog read timed out')),
            Math.max(30_000, target.connectTimeoutMs),
          );
        }),
      ]).finally(() => clearTimeout(timer));
      e.readAt = Date.now();
      e.readGeneration = generation;
      e.failedAt = undefined;
      // Analysis results are cached per snapshot: keep the one held while nothing changed.
      const digest = createHash('sha256').update(JSON.stringify(listing)).digest('base64');
      if (digest === e.digest) return;
      e.catalog = new Catalog(listing);
      e.digest = digest;
      log.info('upstream catalog read', {
        target: target.name,
        relations: listing.relations.length,
        names: e.catalog.size,
      });
    } catch (err) {
      e.failedAt = Date.now();
      log.warn('could not read the upstream catalog; names are analysed without it', {
        target: target.name,
        err,
      });
    } finally {
      if (socket) socket.end(TERMINATE);
      this.opts.release(target.name);
    }
  }
}
