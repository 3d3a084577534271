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
