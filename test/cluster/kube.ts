// A minimal Kubernetes REST client for the real-control-plane suite: node:https only, one API
// server on loopback, client-certificate authentication. Nothing here caches or retries except
// watch(), which reconnects and relists the way an informer does.

import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ClientRequest } from 'node:http';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    finalizers?: string[];
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    managedFields?: unknown[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

export type KubeList = KubeObject & { items: KubeObject[]; metadata: { resourceVersion?: string; continue?: string } };

export interface KubeOptions {
  /** e.g. https://127.0.0.1:6443 */
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Sent as User-Agent; the API server names a field manager after it when none is given. */
  userAgent?: string;
  /** Per-request timeout for non-watch requests (default 30 s). */
  timeoutMs?: number;
}

export interface PatchOptions {
  fieldManager?: string;
  force?: boolean;
  subresource?: 'status';
}

export interface WriteOptions {
  fieldManager?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
  /** True for the ADDED events that come from a (re)list rather than from the watch stream. */
  fromList?: boolean;
}

export interface WatchOptions {
  /** Start from this resourceVersion; without it the watch lists first and reports every item as ADDED. */
  resourceVersion?: string;
  /** Called on errors the watch recovers from (reconnects); default: ignored. */
  onError?: (err: Error) => void;
  /** Delay before reconnecting after a failure (default 500 ms). */
  retryDelayMs?: number;
}

export interface Watch {
  stop(): void;
  /** Resolves once the watch has stopped. */
  readonly done: Promise<void>;
}

/** An API request that the server answered with a non-2xx status. */
export class KubeError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string | undefined,
    readonly serverMessage: string,
    readonly body: unknown,
  ) {
    super(`${method} ${path}: HTTP ${status}${reason ? ` ${reason}` : ''}: ${serverMessage}`);
    this.name = 'KubeError';
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeError && err.status === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeError && err.status === 409;
}

/**
 * The REST path of a collection or object:
 * resourcePath({apiVersion: 'lambda.services.k8s.aws/v1alpha1', plural: 'aliases', namespace: 'ns', name: 'a'})
 * → /apis/lambda.services.k8s.aws/v1alpha1/namespaces/ns/aliases/a. Without namespace: cluster scope,
 * or (for a namespaced kind) all namespaces.
 */
export function resourcePath(r: { apiVersion: string; plural: string; namespace?: string; name?: string; subresource?: string }): string {
  const base = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  let p = base;
  if (r.namespace) p += `/namespaces/${encodeURIComponent(r.namespace)}`;
  p += `/${r.plural}`;
  if (r.name) p += `/${encodeURIComponent(r.name)}`;
  if (r.subresource) {
    if (!r.name) throw new Error(`resourcePath: subresource ${r.subresource} needs a name`);
    p += `/${r.subresource}`;
  }
  return p;
}

const PATCH_TYPES = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

function withQuery(path: string, q: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, v);
  const s = params.toString();
  if (!s) return path;
  return path + (path.includes('?') ? '&' : '?') + s;
}

export class Kube {
  private readonly url: URL;
  private readonly ca: Buffer;
  private readonly cert: Buffer;
  private readonly key: Buffer;
  private readonly agent: https.Agent;
  private readonly userAgent: string;
  private readonly timeoutMs: number;
  private readonly watches = new Set<Watch>();
  private closed = false;

  constructor(opts: KubeOptions) {
    this.url = new URL(opts.server);
    this.ca = readFileSync(opts.caFile);
    this.cert = readFileSync(opts.certFile);
    this.key = readFileSync(opts.keyFile);
    this.userAgent = opts.userAgent ?? 'function-lambda-canary-test/0.0.0';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.agent = new https.Agent({ keepAlive: true, ca: this.ca, cert: this.cert, key: this.key });
  }

  /** Stops all watches and destroys every socket; the client is unusable afterwards. */
  close(): void {
    this.closed = true;
    for (const w of [...this.watches]) w.stop();
    this.agent.destroy();
  }

  private open(method: string, path: string, headers: Record<string, string>, agent: https.Agent | false): ClientRequest {
    if (this.closed) throw new Error(`${method} ${path}: the Kubernetes client is closed`);
    return https.request({
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port,
      method,
      path,
      headers: { 'user-agent': this.userAgent, accept: 'application/json', ...headers },
      agent: agent === false ? undefined : agent,
      // A watch gets its own socket (no agent) so that stopping it can destroy just that socket.
      ...(agent === false ? { ca: this.ca, cert: this.cert, key: this.key, agent: false } : {}),
    });
  }

  /** One request; resolves with the parsed JSON body, rejects with KubeError on a non-2xx answer. */
  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return new Promise((resolve, reject) => {
      let req: ClientRequest;
      try {
        req = this.open(method, path, headers, this.agent);
      } catch (e) {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what open() threw, unchanged
        reject(e);
        return;
      }
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${method} ${path}: ${err.message}`, { cause: err }));
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(new Error(`${method} ${path}: reading the response: ${err.message}`, { cause: err }));
        });
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any = undefined;
          if (text) {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text;
            }
          }
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            const msg =
              parsed && typeof parsed === 'object' && typeof parsed.message === 'string'
                ? parsed.message
                : String(text || res.statusMessage || '').slice(0, 500);
            const reason = parsed && typeof parsed === 'object' && typeof parsed.reason === 'string' ? parsed.reason : undefined;
            reject(new KubeError(method, path, status, reason, msg, parsed));
            return;
          }
          resolve(parsed);
        });
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get(path: string): Promise<KubeObject> {
    return this.request('GET', path);
  }

  /** Lists a collection, following `continue` tokens; returns one list with every item. */
  async list(path: string, opts: { labelSelector?: string; limit?: number } = {}): Promise<KubeList> {
    let cont: string | undefined;
    let first: KubeList | undefined;
    const items: KubeObject[] = [];
    do {
      const page: KubeList = await this.request(
        'GET',
        withQuery(path, { labelSelector: opts.labelSelector, limit: opts.limit ? String(opts.limit) : undefined, continue: cont }),
      );
      first ??= page;
      items.push(...(page.items ?? []));
      cont = page.metadata?.continue || undefined;
      if (!cont) first.metadata = { ...first.metadata, resourceVersion: page.metadata?.resourceVersion };
    } while (cont);
    return { ...first, items };
  }

  create(path: string, obj: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.request('POST', withQuery(path, { fieldManager: opts.fieldManager }), obj);
  }

  /** PUT of the whole object (an `Update` in managedFields). */
  update(path: string, obj: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.request('PUT', withQuery(path, { fieldManager: opts.fieldManager }), obj);
  }

  /**
   * A patch: 'merge' (RFC 7386 merge patch), 'json' (RFC 6902), or 'apply' (server-side apply; give
   * a fieldManager). opts.subresource 'status' patches /status.
   */
  patch(path: string, body: unknown, type: 'merge' | 'json' | 'apply', opts: PatchOptions = {}): Promise<KubeObject> {
    if (type === 'apply' && !opts.fieldManager) {
      return Promise.reject(new Error(`PATCH ${path}: server-side apply needs a fieldManager`));
    }
    const p = opts.subresource ? `${path}/${opts.subresource}` : path;
    return this.request(
      'PATCH',
      withQuery(p, { fieldManager: opts.fieldManager, force: opts.force === undefined ? undefined : String(opts.force) }),
      body,
      PATCH_TYPES[type],
    );
  }

  /** PUT of /status with the whole object (metadata.resourceVersion in obj makes it conditional). */
  replaceStatus(path: string, obj: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.request('PUT', withQuery(`${path}/status`, { fieldManager: opts.fieldManager }), obj);
  }

  delete(path: string, opts: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' } = {}): Promise<KubeObject> {
    return this.request(
      'DELETE',
      path,
      opts.propagationPolicy ? { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: opts.propagationPolicy } : undefined,
    );
  }

  /**
   * Watches a collection path. Without opts.resourceVersion it lists first and reports each item as
   * ADDED (fromList). It reconnects when the server ends the stream, and when the resourceVersion is
   * too old (410 Gone, or an ERROR event with code 410) it relists and reports the items as ADDED
   * again (objects deleted during the gap are not reported). stop() ends it and destroys its socket.
   */
  watch(path: string, onEvent: (ev: WatchEvent) => void, opts: WatchOptions = {}): Watch {
    let stopped = false;
    let req: ClientRequest | undefined;
    let timer: NodeJS.Timeout | undefined;
    let rv = opts.resourceVersion;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const retryDelay = opts.retryDelayMs ?? 500;
    const report = (err: Error) => {
      if (!stopped) opts.onError?.(err);
    };

    const relist = async () => {
      const l = await this.list(path);
      if (stopped) return;
      rv = l.metadata?.resourceVersion;
      for (const item of l.items) onEvent({ type: 'ADDED', object: item, fromList: true });
    };

    const schedule = (fn: () => void, ms: number) => {
      if (stopped) return;
      timer = setTimeout(() => {
        timer = undefined;
        fn();
      }, ms);
    };

    const connect = () => {
      if (stopped) return;
      if (rv === undefined) {
        relist().then(
          () => connect(),
          (err) => {
            report(err instanceof Error ? err : new Error(String(err)));
            schedule(connect, retryDelay);
          },
        );
        return;
      }
      const wpath = withQuery(path, { watch: '1', resourceVersion: rv, allowWatchBookmarks: 'true' });
      let r: ClientRequest;
      try {
        r = this.open('GET', wpath, {}, false);
      } catch (e) {
        report(e as Error);
        return;
      }
      req = r;
      let gone = false;
      r.on('error', (err) => {
        if (stopped) return;
        report(new Error(`watch ${path}: ${err.message}`, { cause: err }));
      });
      r.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (status === 410) rv = undefined;
            else report(new KubeError('GET', wpath, status, undefined, text.slice(0, 500), text));
          });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line || stopped) continue;
            let ev: { type: string; object: any };
            try {
              ev = JSON.parse(line);
            } catch {
              report(new Error(`watch ${path}: unparseable event: ${line.slice(0, 200)}`));
              continue;
            }
            if (ev.type === 'ERROR') {
              if (ev.object?.code === 410) {
                gone = true;
                rv = undefined;
              } else {
                report(new Error(`watch ${path}: ERROR event: ${ev.object?.message ?? line.slice(0, 200)}`));
              }
              continue;
            }
            const newRv = ev.object?.metadata?.resourceVersion;
            if (newRv) rv = newRv;
            if (ev.type === 'BOOKMARK') continue;
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') {
              try {
                onEvent({ type: ev.type, object: ev.object });
              } catch (e) {
                report(e as Error);
              }
            }
          }
        });
        res.on('error', () => undefined);
      });
      r.on('close', () => {
        if (req === r) req = undefined;
        if (stopped) return;
        schedule(connect, gone || rv === undefined ? 0 : retryDelay);
      });
      r.end();
    };

    const w: Watch = {
      stop: () => {
        if (stopped) return;
        stopped = true;
        if (timer) clearTimeout(timer);
        req?.destroy();
        this.watches.delete(w);
        resolveDone();
      },
      done,
    };
    this.watches.add(w);
    connect();
    return w;
  }
}
