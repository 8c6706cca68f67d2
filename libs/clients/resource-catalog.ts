import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { HOT_STATE, type HotState } from '#hot-state';
import { protectedResourceMetadataUrl } from '#protocol';
import { ClientRepository } from './client-repository.js';

/** One protected resource some active workload may ask tokens for (RFC 8707 `resource`). */
export interface ProtectedResource {
  /** The identifier exactly as registered. */
  resource: string;
  url: URL;
  /** Scopes of the workloads allowed this resource, sorted. */
  scopes: string[];
  /** Every workload allowed this resource gets DPoP-bound tokens (RFC 9449), so no bearer token is ever valid for it. */
  dpopBoundOnly: boolean;
}

const TOPIC = 'clients';
/** A reload after a burst of changes waits this long, so that a bulk import reloads once. */
const RELOAD_DELAY_MS = 50;
/** A failed reload is tried again after this long; meanwhile the last catalog answers. */
const RETRY_MS = 5_000;

/**
 * The protected resources Tollgate's workloads may use, for RFC 9728 metadata and the
 * `resource_metadata` of /check's 401s. Owner: this class. Read synchronously from memory on the
 * hot path; loaded at start and reloaded in the background when a client changes (the same
 * change notices as the client cache, from every instance) or the notice bus resyncs. Bound: the
 * registered resources. While a reload is pending or failing, the previous catalog answers.
 */
@Injectable()
export class ResourceCatalog implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('clients');
  /** By origin, longest path first (the most specific resource covering a URL wins). */
  private byOrigin = new Map<string, ProtectedResource[]>();
  private byIdentifier = new Map<string, ProtectedResource>();
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private stopped = false;
  /** Changes made or heard of here, and how many of them the catalog in memory was read after. */
  private changes = 0;
  private loadedThrough = 0;

  constructor(
    private readonly repository: ClientRepository,
    @Inject(HOT_STATE) private readonly hot: HotState,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.hot.events.subscribe(TOPIC, () => this.changed());
    this.hot.events.onResync(() => this.changed());
    await this.reload().catch(() => this.reloadSoon(RETRY_MS));
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The resource registered exactly as `identifier` (RFC 9728 §3.3 compares identifiers), if any. */
  find(identifier: string): ProtectedResource | undefined {
    return this.byIdentifier.get(identifier);
  }

  /** The most specific registered resource covering `url` (same origin, path under it; as audiences are matched). */
  covering(url: URL): ProtectedResource | undefined {
    const candidates = this.byOrigin.get(url.origin);
    if (!candidates) return undefined;
    return candidates.find(({ url: r }) => {
      const base = r.pathname.endsWith('/') ? r.pathname : `${r.pathname}/`;
      return url.pathname === r.pathname || url.pathname.startsWith(base);
    });
  }

  /** RFC 9728 §5.1 `resource_metadata` for a call to `url`, when a registered resource covers it. */
  metadataUrlFor(url: URL): string | undefined {
    const resource = this.covering(url);
    return resource ? protectedResourceMetadataUrl(resource.url) : undefined;
  }

  /**
   * A client changed (written here, or a notice from any instance): reload soon. The registry
   * calls this for its own writes before it answers, because its notice comes back from Redis
   * only after a round trip, and the next request may be the metadata for the new resource.
   */
  changed(): void {
    this.changes++;
    this.reloadSoon(RELOAD_DELAY_MS);
  }

  /**
   * The catalog with every change made or heard of here applied (for the metadata endpoint, not
   * the hot path). A load already running may have read the database before the latest change,
   * so it is followed by another; two at most, so a stream of changes cannot hold a request.
   */
  async current(): Promise<void> {
    for (let attempt = 0; attempt < 2 && this.loadedThrough < this.changes; attempt++) {
      clearTimeout(this.timer);
      this.timer = undefined;
      try {
        await this.reload();
      } catch {
        this.reloadSoon(RETRY_MS); // the previous catalog answers meanwhile
        return;
      }
    }
  }

  /** Loads the catalog now (also what tests call after registering a client on another instance). */
  reload(): Promise<void> {
    this.loading ??= this.loadCountingChanges().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async loadCountingChanges(): Promise<void> {
    const through = this.changes;
    await this.load();
    this.loadedThrough = Math.max(this.loadedThrough, through);
  }

  private async load(): Promise<void> {
    const grants = await this.repository.resourceGrants();
    const scopes = new Map<string, Set<string>>();
    const bearerAllowed = new Set<string>();
    for (const grant of grants) {
      for (const resource of grant.resources) {
        const set = scopes.get(resource) ?? new Set<string>();
        for (const scope of grant.scopes) set.add(scope);
        scopes.set(resource, set);
        if (!grant.dpopBound) bearerAllowed.add(resource);
      }
    }
    const byOrigin = new Map<string, ProtectedResource[]>();
    const byIdentifier = new Map<string, ProtectedResource>();
    for (const [resource, set] of scopes) {
      const url = URL.parse(resource);
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) continue;
      const entry: ProtectedResource = { resource, url, scopes: [...set].sort(), dpopBoundOnly: !bearerAllowed.has(resource) };
      byIdentifier.set(resource, entry);
      byOrigin.set(url.origin, [...(byOrigin.get(url.origin) ?? []), entry]);
    }
    for (const list of byOrigin.values()) list.sort((a, b) => b.url.pathname.length - a.url.pathname.length);
    this.byOrigin = byOrigin;
    this.byIdentifier = byIdentifier;
  }

  private reloadSoon(delayMs: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload().catch((error: unknown) => {
        this.logger.warn({ message: 'protected resource catalog not reloaded; the previous one answers', error: (error as Error)?.name });
        this.reloadSoon(RETRY_MS);
      });
    }, delayMs);
    this.timer.unref();
  }
}
