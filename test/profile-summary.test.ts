// The profile summariser behind docs/performance.md's "Where the time goes".
import { describe, expect, it } from 'vitest';
import { category, summarise } from '../bench/profile-summary.js';

describe('profile summary', () => {
  it('attributes frames to packages, our files, Node core and V8 pseudo-frames', () => {
    expect(category({ functionName: 'f', url: 'file:///app/node_modules/@grpc/grpc-js/build/src/server.js' })).toBe('@grpc/grpc-js');
    expect(category({ functionName: 'f', url: 'file:///app/node_modules/zod/v4/core/core.js' })).toBe('zod');
    expect(category({ functionName: 'readStruct', url: 'file:///app/dist/function/protobuf.js' })).toBe('function/protobuf.js');
    expect(category({ functionName: 'emit', url: 'node:events' })).toBe('node core');
    expect(category({ functionName: '(garbage collector)', url: '' })).toBe('(garbage collector)');
  });

  it('reports shares of busy time, idle excluded, busiest first', () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(idle)', url: '' } },
        { id: 2, callFrame: { functionName: 'readStruct', url: 'file:///a/dist/function/protobuf.js' } },
        { id: 3, callFrame: { functionName: 'run', url: 'file:///a/node_modules/zod/x.js' } },
      ],
      samples: [1, 2, 2, 2, 3, 1],
      timeDeltas: [1000, 100, 100, 100, 100, 5000],
    };
    const text = summarise(profile, 5);
    expect(text).toMatch(/^busy 0 ms/);
    expect(text).toContain(' 75.0%  function/protobuf.js');
    expect(text).toContain(' 25.0%  zod');
    expect(text).not.toContain('(idle)');
    expect(text.indexOf('function/protobuf.js readStruct')).toBeLessThan(text.indexOf('zod run'));
  });
});
