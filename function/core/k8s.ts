// Minimal, typed access to Kubernetes objects as they arrive over the wire
// (JSON from protobuf Structs). Nothing here trusts the shape of its input:
// every accessor tolerates missing or wrongly typed fields, because observed
// and required resources are written by other controllers and by people.

export type KubeObject = Record<string, unknown>;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a dotted path, or undefined where any step is missing. */
export function get(obj: unknown, ...path: string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (!isRecord(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

export function getString(obj: unknown, ...path: string[]): string | undefined {
  const v = get(obj, ...path);
  return typeof v === 'string' ? v : undefined;
}

export function getRecord(obj: unknown, ...path: string[]): Record<string, unknown> | undefined {
  const v = get(obj, ...path);
  return isRecord(v) ? v : undefined;
}

export const metaName = (o: unknown) => getString(o, 'metadata', 'name');
export const metaNamespace = (o: unknown) => getString(o, 'metadata', 'namespace');
export const label = (o: unknown, key: string) => getString(o, 'metadata', 'labels', key);
export const annotation = (o: unknown, key: string) => getString(o, 'metadata', 'annotations', key);

export interface ObservedCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The named condition from status.conditions, if well formed. */
export function findCondition(obj: unknown, type: string): ObservedCondition | undefined {
  const list = get(obj, 'status', 'conditions');
  if (!Array.isArray(list)) return undefined;
  for (const c of list) {
    if (isRecord(c) && c.type === type && typeof c.status === 'string') {
      return {
        type,
        status: c.status,
        ...(typeof c.reason === 'string' ? { reason: c.reason } : {}),
        ...(typeof c.message === 'string' ? { message: c.message } : {}),
      };
    }
  }
  return undefined;
}

export const CLAIM_NAME_LABEL = 'crossplane.io/claim-name';
export const CLAIM_NAMESPACE_LABEL = 'crossplane.io/claim-namespace';

/** JSON with object keys sorted at every level: equal for equal values whatever their key order. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}
