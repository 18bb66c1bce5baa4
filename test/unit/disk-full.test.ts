import { DiskFullError, diskFullPath, isDiskFull } from '../../lib/errors';

function enospc(file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), {
    code: 'ENOSPC',
    path: file,
  });
}

test("a full disk is recognised from Node's code, a wrapped cause and the trainer's message, and names its file", () => {
  expect(isDiskFull(enospc('/store/ab/x.tmp'))).toBe(true);
  expect(isDiskFull(new Error('stage failed', { cause: enospc('/store/cd/y.tmp') }))).toBe(true);
  expect(isDiskFull(Object.assign(new Error('quota'), { code: 'EDQUOT' }))).toBe(true);
  expect(isDiskFull(new Error('trainer failed: OSError: [Errno 28] No space left on device'))).toBe(true);
  expect(diskFullPath(new Error('wrapped', { cause: enospc('/store/cd/y.tmp') }))).toBe('/store/cd/y.tmp');
  expect(diskFullPath(new Error('no path'))).toBeUndefined();
  // Other failures are not mistaken for it.
  expect(isDiskFull(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(false);
  expect(isDiskFull(new Error('image too small'))).toBe(false);
  // Temporal matches non-retryable failures by this name.
  expect(new DiskFullError('x').name).toBe('DiskFullError');
});
