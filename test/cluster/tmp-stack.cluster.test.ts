import { it } from 'vitest';
import { startStack } from './stack.js';
it('starts', async () => {
  const s = await startStack();
  console.log(s.timings, s.dir);
  console.log(s.kubectl(['get', 'functions']));
  await s.stop();
}, 300_000);
