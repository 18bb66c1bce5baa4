import { AddressGuard, blockedRange, HostAllowlist, hostPortOf, type Resolver } from '../../activities/download/guard';

describe('blockedRange', () => {
  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.1.1', 'linkLocal'],
    ['100.100.100.200', 'metadata'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:7f00:1', 'loopback'],
    ['::7f00:1', 'ipv4Compatible'], // [::127.0.0.1] as URL parsing writes it
    ['::127.0.0.1', 'loopback'],
    ['::a00:1', 'ipv4Compatible'],
    ['::808:808', 'ipv4Compatible'],
    ['64:ff9b::a00:1', 'rfc6052'],
    ['2002:a00:1::', '6to4'],
  ])('%s is refused (%s)', (address, range) => {
    expect(blockedRange(address)).toBe(range);
  });

  test.each(['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(blockedRange(address)).toBeUndefined();
  });
});

describe('AddressGuard', () => {
  const resolver =
    (table: Record<string, string[]>): Resolver =>
    async (host) => {
      const addresses = table[host];
      if (!addresses) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
  const dns = resolver({
    'public.example': ['93.184.216.34'],
    'mixed.example': ['93.184.216.34', '10.0.0.7'],
    'v6private.example': ['fd12::1'],
    'metadata.google.internal': ['93.184.216.34'],
  });

  test('public names pass and are pinned to the checked address', async () => {
    const guard = new AddressGuard(new HostAllowlist([]), dns);
    expect(await guard.check({ hostname: 'public.example', port: 80 })).toEqual({
      ok: true,
      address: '93.184.216.34',
      family: 4,
    });
  });

  test('one private answer among public ones refuses the name', async () => {
    const guard = new AddressGuard(new HostAllowlist([]), dns);
    const r = await guard.check({ hostname: 'mixed.example', port: 80 });
    expect(r).toMatchObject({ ok: false, reason: 'blocked_address' });
    expect(await guard.check({ hostname: 'v6private.example', port: 443 })).toMatchObject({
      reason: 'blocked_address',
    });
  });

  test('metadata names are refused whatever they resolve to; literals are checked without DNS', async () => {
    const guard = new AddressGuard(new HostAllowlist([]), dns);
    expect(await guard.check({ hostname: 'metadata.google.internal', port: 80 })).toMatchObject({
      reason: 'blocked_address',
    });
    expect(await guard.check({ hostname: '169.254.169.254', port: 80 })).toMatchObject({ reason: 'blocked_address' });
    expect(await guard.check({ hostname: '::ffff:10.0.0.1', port: 80 })).toMatchObject({ reason: 'blocked_address' });
    expect(await guard.check({ hostname: 'nowhere.example', port: 80 })).toMatchObject({ reason: 'dns_not_found' });
  });

  test('the allowlist admits exactly the listed host:port (or any port for a bare host)', async () => {
    const guard = new AddressGuard(new HostAllowlist(['127.0.0.1:8600', '[::1]:9000', 'mixed.example']), dns);
    expect(await guard.check({ hostname: '127.0.0.1', port: 8600 })).toMatchObject({ ok: true, address: '127.0.0.1' });
    expect(await guard.check({ hostname: '127.0.0.1', port: 8601 })).toMatchObject({ reason: 'blocked_address' });
    expect(await guard.check({ hostname: '::1', port: 9000 })).toMatchObject({ ok: true, family: 6 });
    expect(await guard.check({ hostname: 'mixed.example', port: 1234 })).toMatchObject({ ok: true });
  });

  test('resolved names are cached', async () => {
    let calls = 0;
    const guard = new AddressGuard(new HostAllowlist([]), async (host) => {
      calls++;
      return dns(host);
    });
    await guard.check({ hostname: 'public.example', port: 80 });
    await guard.check({ hostname: 'public.example', port: 443 });
    expect(calls).toBe(1);
  });

  test('hostPortOf gives the allowlist entry for a base URL', () => {
    expect(hostPortOf('http://127.0.0.1:8600')).toBe('127.0.0.1:8600');
    expect(hostPortOf('https://engine.example/')).toBe('engine.example:443');
    expect(hostPortOf('http://[::1]:8600/x')).toBe('[::1]:8600');
    expect(hostPortOf(undefined)).toBeUndefined();
  });
});
