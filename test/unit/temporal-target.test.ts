import { temporalTarget } from '../../lib/client/connect';

// Settings given explicitly, so neither this machine's environment nor a Temporal CLI config file leaks in.
const target = (env: Record<string, string>) =>
  temporalTarget({ TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml', ...env });

test('without settings: the local dev server, namespace default, no TLS', () => {
  expect(target({})).toEqual({
    address: '127.0.0.1:7233',
    namespace: 'default',
    connectionOptions: expect.objectContaining({
      address: '127.0.0.1:7233',
      tls: undefined,
      apiKey: undefined,
    }) as unknown,
  });
});

test('an API key turns TLS on, as Temporal Cloud wants; address and namespace come from the environment', () => {
  expect(
    target({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'k' }),
  ).toMatchObject({
    address: 'ns.acct.tmprl.cloud:7233',
    namespace: 'ns.acct',
    connectionOptions: { apiKey: 'k', tls: true },
  });
});

test('a client certificate without its key, or an unreadable TLS file, is a usage error naming the setting', () => {
  expect(() => target({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/hostname' })).toThrow(
    /mTLS needs both a client certificate and its key, and only the certificate is set/,
  );
  expect(() =>
    target({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/nonexistent.pem', TEMPORAL_TLS_CLIENT_KEY_PATH: '/nonexistent.key' }),
  ).toThrow(/a TLS file of the Temporal connection cannot be read: .*nonexistent.*TEMPORAL_TLS_\*_PATH/);
});
