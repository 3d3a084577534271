// Turns zod issues into messages that name the field and say how to fix it.
import type { z } from 'zod';
import type { UnknownFieldParams } from './unknown-fields.js';

export function fieldPath(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  let out = prefix;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return out;
}

export function describeIssues(prefix: string, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return `${fieldPath(prefix, issue.path)}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove them (check the spelling against the README's API reference)`;
      }
      if (issue.code === 'custom' && isUnknownField(issue.params)) {
        // Our refinement (unknown-fields.ts) found a field that is not ours: name
        // it and, for a near miss, the field that was probably meant, by its full path.
        const where = fieldPath(prefix, issue.path);
        if (issue.params.suggestion === undefined) return `${where}: unknown field; remove it (check the spelling against the README's API reference)`;
        return `${where}: unknown field; did you mean ${fieldPath(prefix, [...issue.path.slice(0, -1), issue.params.suggestion])}?`;
      }
      // zod 4 drops issue.input unless parsing with reportInput, so it cannot
      // tell "missing" from "wrong type"; its message can ("received undefined").
      const missing = 'input' in issue ? issue.input === undefined : / received undefined$/.test(issue.message);
      if (issue.code === 'invalid_type' && missing) {
        return `${fieldPath(prefix, issue.path)}: is required`;
      }
      return `${fieldPath(prefix, issue.path)}: ${issue.message}`;
    })
    .join('; ');
}

function isUnknownField(params: unknown): params is UnknownFieldParams {
  return typeof params === 'object' && params !== null && (params as Partial<UnknownFieldParams>).unknownField === true;
}
