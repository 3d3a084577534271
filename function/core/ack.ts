// Facts about the ACK Lambda controller's resources (v1.14.1 CRDs, vendored in
// test/fixtures/ack-lambda-crds): group/version, kinds, and how ACK reports that a
// Version was published, is still publishing, or failed.
import { findCondition, getString, getRecord, type KubeObject } from './k8s.js';

export const ACK_LAMBDA_API_VERSION = 'lambda.services.k8s.aws/v1alpha1';
export const KIND_ALIAS = 'Alias';
export const KIND_VERSION = 'Version';
export const REGION_ANNOTATION = 'services.k8s.aws/region';

export const ACK_SYNCED = 'ACK.ResourceSynced';
export const ACK_TERMINAL = 'ACK.Terminal';

/** A Lambda version a reference or literal resolved to. */
export interface ResolvedVersion {
  kind: 'resolved';
  version: string;
  /** Execution role and dead-letter target, known only for Versions read from ACK status. */
  config?: { role?: string; deadLetterTarget?: string };
}

export interface PendingVersion {
  kind: 'pending';
  /** NotFound | NotPublished | LookupPending */
  reason: 'NotFound' | 'NotPublished' | 'LookupPending';
  message: string;
}

export interface FailedVersion {
  kind: 'failed';
  reason: 'Terminal' | 'Failed';
  message: string;
}

export type VersionResolution = ResolvedVersion | PendingVersion | FailedVersion;

/**
 * Whether ACK has published this Version. A Version counts only when
 * status.version is set, ACK.ResourceSynced is True and status.state, where
 * present, is Active; ACK.Terminal (or state Failed) means it never will be.
 */
export function assessVersion(obj: KubeObject, display: string): VersionResolution {
  const terminal = findCondition(obj, ACK_TERMINAL);
  if (terminal?.status === 'True') {
    return {
      kind: 'failed',
      reason: 'Terminal',
      message: `ACK Version ${display} is Terminal: ${terminal.message ?? terminal.reason ?? 'no message from ACK'}`,
    };
  }
  const state = getString(obj, 'status', 'state');
  if (state === 'Failed') {
    const why = getString(obj, 'status', 'stateReason') ?? getString(obj, 'status', 'stateReasonCode') ?? 'no reason given';
    return { kind: 'failed', reason: 'Failed', message: `Lambda version for ACK Version ${display} is Failed: ${why}` };
  }
  const version = getString(obj, 'status', 'version');
  const synced = findCondition(obj, ACK_SYNCED);
  if (version === undefined || !/^[0-9]+$/.test(version)) {
    return { kind: 'pending', reason: 'NotPublished', message: `ACK Version ${display} has not been published yet (no status.version)` };
  }
  if (synced?.status !== 'True') {
    return {
      kind: 'pending',
      reason: 'NotPublished',
      message: `ACK Version ${display} (version ${version}) is not synced yet${synced?.message ? `: ${synced.message}` : ''}`,
    };
  }
  if (state !== undefined && state !== 'Active') {
    return { kind: 'pending', reason: 'NotPublished', message: `ACK Version ${display} (version ${version}) is ${state}, not Active` };
  }
  const role = getString(obj, 'status', 'role');
  const deadLetterTarget = getString(getRecord(obj, 'status', 'deadLetterConfig'), 'targetARN');
  return {
    kind: 'resolved',
    version,
    config: { ...(role !== undefined ? { role } : {}), ...(deadLetterTarget !== undefined ? { deadLetterTarget } : {}) },
  };
}

/** Whether ACK reports the Alias as synced with AWS. */
export function aliasSynced(obj: KubeObject): boolean {
  return findCondition(obj, ACK_SYNCED)?.status === 'True';
}

/**
 * The status fields of ACK objects the planners read (assessVersion,
 * aliasSynced, canary-planner.ts's aliasARN). Observed composed and required resources
 * are decoded with everything else under status skipped on the wire: an ACK
 * Version's status carries ~4 KB (environment, layers, VPC, signing) that
 * costs more to turn into objects than planning does. Reading a new status
 * field means adding it here; test/projection.test.ts fails until then.
 * server/request-projection.ts turns this list into the wire projection.
 */
export const STATUS_FIELDS_READ = [
  'ackResourceMetadata',
  'conditions',
  'deadLetterConfig',
  'role',
  'state',
  'stateReason',
  'stateReasonCode',
  'version',
] as const;
