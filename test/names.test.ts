// Object and composition-resource names are API: a change deletes and
// recreates live AWS aliases. They must be deterministic, valid and distinct.
import { describe, expect, it } from 'vitest';
import { ALIAS_RESOURCE_NAME, aliasObjectName, dnsLabel, versionResourceName } from '../function/api/names.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const samples: [string, string][] = [
  ['checkout-live', 'live'],
  ['checkout-live', 'my_alias'],
  ['checkout-live', 'my-alias'],
  ['checkout-live', 'Live'],
  ['checkout-live', 'LIVE_2'],
  ['checkout', '---'],
  ['x', '_'],
  ['a'.repeat(63), 'live'],
  ['a'.repeat(40), 'b'.repeat(40)],
  ['a'.repeat(53), '-'.repeat(30)],
  ['', ''],
  ['checkout', '1234a'],
  ['checkout', 'x'.repeat(128)],
  ['Checkout.Prod', 'live'],
];

describe('aliasObjectName', () => {
  it('keeps already-valid names as they are', () => {
    expect(aliasObjectName('checkout-live', 'live')).toBe('checkout-live-live');
    expect(aliasObjectName('checkout', 'prod-2')).toBe('checkout-prod-2');
  });

  it.each(samples)('%s + %s: a valid DNS-1123 label of at most 63 characters, the same every time', (owner, alias) => {
    const name = aliasObjectName(owner, alias);
    expect(name).toMatch(DNS1123_LABEL);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name.length).toBeGreaterThan(0);
    expect(aliasObjectName(owner, alias)).toBe(name);
  });

  it('gives distinct names to distinct inputs that sanitise alike', () => {
    const names = samples.map(([o, a]) => aliasObjectName(o, a));
    expect(new Set(names).size).toBe(names.length);
    expect(aliasObjectName('checkout-live', 'my_alias')).not.toBe(aliasObjectName('checkout-live', 'my-alias'));
    expect(aliasObjectName('checkout-live', 'Live')).not.toBe(aliasObjectName('checkout-live', 'live'));
    // Inputs that sanitise to the same text still differ.
    const alike = ['my_alias', 'my.alias', 'MY_ALIAS', 'my__alias', 'My-Alias', 'my-alias'].map((a) => aliasObjectName('checkout-live', a));
    expect(new Set(alike).size).toBe(alike.length);
    // Two long names that differ only beyond the cut.
    const long = 'a'.repeat(70);
    expect(aliasObjectName(long, 'one')).not.toBe(aliasObjectName(long, 'two'));
    expect(aliasObjectName(long, 'one').length).toBeLessThanOrEqual(63);
  });

  it('keeps a readable prefix of the input when it has to hash', () => {
    expect(aliasObjectName('checkout-live', 'my_alias')).toMatch(/^checkout-live-my-alias-[0-9a-f]{8}$/);
    expect(aliasObjectName('a'.repeat(70), 'live')).toMatch(/^a+-[0-9a-f]{8}$/);
  });
});

describe('dnsLabel', () => {
  it('is deterministic across calls (no randomness, no clock)', () => {
    expect(dnsLabel('my_alias')).toBe(dnsLabel('my_alias'));
    expect(dnsLabel('my_alias')).toMatch(/^my-alias-[0-9a-f]{8}$/);
  });

  it('never returns an empty or invalid label', () => {
    for (const s of ['', '_', '---', '...', 'UPPER', 'ünïcödé', '-lead', 'trail-', '9'.repeat(100)]) {
      const name = dnsLabel(s);
      expect(name, s).toMatch(DNS1123_LABEL);
      expect(name.length, s).toBeLessThanOrEqual(63);
    }
  });
});

describe('composition resource names', () => {
  it('are fixed: renaming them would make Crossplane delete live resources', () => {
    expect(ALIAS_RESOURCE_NAME).toBe('alias');
    expect(versionResourceName('checkout-v6')).toBe('version-checkout-v6');
  });
});
