import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { OfflinePgAdapterFactory, poolConfigFromUrl } from './prisma/pg-offline-adapter';

// Migrations run through the WebAssembly schema engine and a pg driver adapter: nothing is downloaded.
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  adapter: async () => {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL is not set: point it at PostgreSQL, or run `ie up` to start a local one');
    return new OfflinePgAdapterFactory(poolConfigFromUrl(url));
  },
});
