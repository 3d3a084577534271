// The projection the server decodes requests with: which parts of observed
// composed and required resources the wire codec turns into objects. Built
// from the ACK facts the planners read (core/ack.ts STATUS_FIELDS_READ), kept
// here so that core/ knows nothing of the wire codec.
import { STATUS_FIELDS_READ } from '../core/ack.js';
import type { StructProjection } from '../wire/protobuf.js';
import type { RequestProjection } from '../wire/request.js';

/** How observed composed and required resources are decoded (function/wire/request.ts). */
export const OBSERVED_RESOURCE_PROJECTION: StructProjection = {
  children: {
    // Written by the API server for every field manager; nothing here reads it.
    metadata: { skip: new Set(['managedFields']) },
    status: { only: new Set(STATUS_FIELDS_READ) },
  },
};

/** The projection the real handler's requests are decoded with: observed composed and required resources alike. */
export const REQUEST_PROJECTION: RequestProjection = {
  observedResource: OBSERVED_RESOURCE_PROJECTION,
  requiredResource: OBSERVED_RESOURCE_PROJECTION,
};
