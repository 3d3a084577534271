// Turns zod issues into messages that name the field and say how to fix it.
import type { z } from 'zod';

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
      if (issue.code === 'invalid_type' && issue.input === undefined) {
        return `${fieldPath(prefix, issue.path)}: is required`;
      }
      return `${fieldPath(prefix, issue.path)}: ${issue.message}`;
    })
    .join('; ');
}
