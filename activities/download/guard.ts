import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Names of cloud metadata services, refused whatever they resolve to. */
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data']);

/** Metadata addresses; every one is also in a refused range, listed so the intent is explicit. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '169.254.170.2']);

/**
 * Why an address may not be connected to, or undefined when it is public unicast. Only ipaddr.js's
 * 'unicast' range passes: private, loopback, link-local, multicast, unspecified, broadcast, carrier-grade
 * NAT (100.64/10, which holds 100.100.100.200), unique-local, reserved, documentation, 6to4/Teredo/NAT64
 * (which embed IPv4 addresses) and IPv4-compatible ::/96 are all refused. IPv4-mapped IPv6 is judged as the IPv4
 * address it maps.
 */
export function blockedRange(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return 'invalid';
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  if (METADATA_ADDRESSES.has(ip.toString())) return 'metadata';
  const range = ip.range();
  // ::/96 (IPv4-compatible, deprecated: `[::127.0.0.1]` is `[::7f00:1]` in a URL), which ipaddr.js calls
  // unicast; :: and ::1 keep their own names.
  if (range === 'unicast' && ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0))
    return 'ipv4Compatible';
  return range === 'unicast' ? undefined : range;
}

export interface Destination {
  hostname: string;
  port: number;
}

/** The URL's host and effective port; brackets are removed from IPv6 literals. */
export function destinationOf(url: URL): Destination {
  const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { hostname, port };
}

/** An allowlist of `host:port` or bare `host` (any port) entries; IPv6 hosts may be bracketed. */
export class HostAllowlist {
  private readonly exact = new Set<string>();
  private readonly anyPort = new Set<string>();

  constructor(entries: Iterable<string>) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry) ?? /^([^:]+)(?::(\d+))?$/.exec(entry);
      if (m) {
        if (m[2]) this.exact.add(`${m[1]}:${m[2]}`);
        else this.anyPort.add(m[1]);
      } else if (isIP(entry) === 6) this.anyPort.add(entry); // bare unbracketed IPv6
    }
  }

  has({ hostname, port }: Destination): boolean {
    return this.anyPort.has(hostname) || this.exact.has(`${hostname}:${port}`);
  }
}

/** `host:port` of a base URL (for allowlisting a service a run talks to), or undefined if it does not parse. */
export function hostPortOf(baseUrl: string | undefined): string | undefined {
  if (!baseUrl) return undefined;
  try {
    const { hostname, port } = destinationOf(new URL(baseUrl));
    return hostname.includes(':') ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  } catch {
    return undefined;
  }
}

export type GuardResult = { ok: true; address: string; family: 4 | 6 } | { ok: false; reason: string; detail: string };

export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * Resolves and checks a destination before any connection is made. Every address the name resolves to
 * must be public (one private answer is enough to refuse: an attacker controls which one a client
 * picks); the caller connects to the returned address only, so a second, rebinding DNS answer is never
 * used. Allowlisted destinations skip the range check but are still pinned.
 */
export class AddressGuard {
  private readonly cache = new Map<string, { at: number; addresses: { address: string; family: number }[] }>();

  constructor(
    private readonly allow: HostAllowlist,
    private readonly resolve: Resolver = systemResolver,
    /** Resolved names are reused this long (DNS is a bottleneck at scale). */
    private readonly cacheMs = 60_000,
  ) {}

  async check(dest: Destination): Promise<GuardResult> {
    const { hostname } = dest;
    const allowed = this.allow.has(dest);
    if (!allowed && (METADATA_NAMES.has(hostname) || hostname.endsWith('.metadata.google.internal'))) {
      return { ok: false, reason: 'blocked_address', detail: `${hostname} is a metadata service` };
    }
    let addresses: { address: string; family: number }[];
    if (isIP(hostname)) addresses = [{ address: hostname, family: isIP(hostname) }];
    else {
      try {
        addresses = await this.lookup(hostname);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
        // A name that does not exist is permanent; a failing resolver is not.
        const reason = code === 'ENOTFOUND' || code === 'ENODATA' ? 'dns_not_found' : `network_error:${code}`;
        return { ok: false, reason, detail: `${hostname}: ${code}` };
      }
    }
    if (addresses.length === 0) return { ok: false, reason: 'dns_not_found', detail: `${hostname}: no addresses` };
    if (!allowed) {
      for (const { address } of addresses) {
        const range = blockedRange(address);
        if (range) return { ok: false, reason: 'blocked_address', detail: `${hostname} → ${address} (${range})` };
      }
    }
    const first = addresses[0];
    return { ok: true, address: first.address, family: first.family === 6 ? 6 : 4 };
  }

  private async lookup(hostname: string): Promise<{ address: string; family: number }[]> {
    const hit = this.cache.get(hostname);
    if (hit && Date.now() - hit.at < this.cacheMs) return hit.addresses;
    const addresses = await this.resolve(hostname);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hostname, { at: Date.now(), addresses });
    return addresses;
  }
}
