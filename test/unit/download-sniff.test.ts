import sharp from 'sharp';
import { isRetryable, parseRetryAfter } from '../../activities/download/outcomes';
import { botToken, robotsOptOut } from '../../activities/download/robots';
import { sniffImage } from '../../activities/download/sniff';

const pixel = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#3366aa' } });

describe('sniffImage', () => {
  test.each([
    ['jpeg', () => pixel().jpeg().toBuffer()],
    ['png', () => pixel().png().toBuffer()],
    ['gif', () => pixel().gif().toBuffer()],
    ['webp', () => pixel().webp().toBuffer()],
    ['tiff', () => pixel().tiff().toBuffer()],
    ['avif', () => pixel().avif().toBuffer()],
  ] as const)('%s from its leading bytes', async (format, make) => {
    expect(sniffImage(await make())).toBe(format);
  });

  test('BMP, big-endian TIFF and HEIC headers', () => {
    const bmp = Buffer.alloc(54);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(40, 14);
    expect(sniffImage(bmp)).toBe('bmp');
    expect(sniffImage(Buffer.from('MM\0*\0\0\0\x08', 'latin1'))).toBe('tiff');
    const heic = Buffer.alloc(24);
    heic.writeUInt32BE(24, 0);
    heic.write('ftypheic', 4, 'latin1');
    heic.write('mif1heic', 16, 'latin1');
    expect(sniffImage(heic)).toBe('heif');
  });

  test('HTML, text, JSON, MP4 and truncated data are not images', () => {
    expect(sniffImage(Buffer.from('<!DOCTYPE html><html><body>hello</body></html>'))).toBeUndefined();
    expect(sniffImage(Buffer.from('{"error":"not found"}'))).toBeUndefined();
    expect(sniffImage(Buffer.from([0xff, 0xd8]))).toBeUndefined();
    expect(sniffImage(Buffer.from('BM is not a bitmap header at all'))).toBeUndefined();
    const mp4 = Buffer.alloc(24);
    mp4.writeUInt32BE(24, 0);
    mp4.write('ftypisom', 4, 'latin1');
    expect(sniffImage(mp4)).toBeUndefined();
  });
});

describe('robotsOptOut', () => {
  const bot = botToken('InternetExplorerBot/0.1 (+https://example.org)');

  test('the product token is the User-Agent name', () => {
    expect(bot).toBe('internetexplorerbot');
  });

  test.each([
    ['noai', 'noai'],
    ['noimageai', 'noimageai'],
    ['noindex, nofollow', 'noindex'],
    ['NoImageIndex', 'noimageindex'],
    ['none', 'none'],
    ['internetexplorerbot: noai', 'noai'],
    ['*: noindex', 'noindex'],
    ['googlebot: nofollow, noai', undefined], // scoped to another bot
    ['googlebot: noindex', undefined],
    ['nofollow, noarchive', undefined],
    ['unavailable_after: 25 Jun 2010 15:00:00 PST', undefined],
    ['max-image-preview: large, noimageai', 'noimageai'],
  ])('%j → %s', (value, expected) => {
    expect(robotsOptOut(value, bot)).toBe(expected);
  });

  test('every header line counts', () => {
    expect(robotsOptOut(['googlebot: noindex', 'noai'], bot)).toBe('noai');
    expect(robotsOptOut(undefined, bot)).toBeUndefined();
  });
});

describe('outcome classification', () => {
  test.each([
    ['timeout', true],
    ['network_error:ECONNRESET', true],
    ['http_429', true],
    ['http_503', true],
    ['http_500', true],
    ['http_408', true],
    ['http_404', false],
    ['http_403', false],
    ['blocked_address', false],
    ['not_an_image', false],
    ['too_large', false],
    ['opted_out', false],
    ['decode_error', false],
    ['too_many_redirects', false],
  ])('%s retryable: %s', (reason, retryable) => {
    expect(isRetryable(reason)).toBe(retryable);
  });

  test('Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
