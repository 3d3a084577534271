// Names of rendered objects and of composition resources are part of the API:
// Crossplane identifies composed resources by composition-resource name, and
// ACK identifies AWS objects by metadata.name. Changing either later would
// delete and recreate live resources, so they are derived only from stable
// inputs (the XR or claim name, the alias name, the Version name).
import { createHash } from 'node:crypto';

export const ALIAS_RESOURCE_NAME = 'alias';
export const VERSION_RESOURCE_PREFIX = 'version-';

export function versionResourceName(versionName: string): string {
  return `${VERSION_RESOURCE_PREFIX}${versionName}`;
}

const MAX_NAME = 63;

/**
 * A DNS-1123 label built from parts. Where sanitising changed anything or the
 * result is too long, a short hash of the original keeps distinct inputs from
 * colliding (my_alias and my-alias stay different objects).
 */
export function dnsLabel(...parts: string[]): string {
  const original = parts.join('-');
  let name = original
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (name === original && name.length <= MAX_NAME && name.length > 0) return name;
  const hash = createHash('sha256').update(original).digest('hex').slice(0, 8);
  name = name.slice(0, MAX_NAME - hash.length - 1).replace(/-+$/g, '');
  return name.length > 0 ? `${name}-${hash}` : hash;
}

/** metadata.name of the Alias a LambdaCanary renders. */
export function aliasObjectName(ownerName: string, aliasName: string): string {
  return dnsLabel(ownerName, aliasName);
}
