import { db } from '../../lib/db';

export interface FetchRecord {
  url: string;
  status: 'ok' | 'failed';
  /** A failure's reason. An ok URL whose image was already stored (from another URL) is recorded as 'duplicate'. */
  reason?: string;
  retryable?: boolean;
  detail?: string;
  httpStatus?: number;
  sha256?: string;
  bytes?: number;
  ms: number;
  runId: string;
  iteration: number;
}

export interface StoredImageRow {
  sha256: string;
  path: string;
  width: number;
  height: number;
  bytes: number;
  sourceUrl: string;
  /** null: not computed here (an existing row keeps its hash; a missing one is computed later). */
  phash: string | null;
}

/**
 * Records a URL's outcome — and, when it produced a new image, the image — in one statement: the
 * download stage writes once per URL, so a round trip saved per URL is most of its database time.
 * Idempotent: the image is inserted only if absent, the outcome replaces an earlier one (counting the
 * attempt). The statement sees the Image table as it was before its own insert, so an ok URL is marked
 * 'duplicate' exactly when another URL had already delivered the same bytes.
 */
export async function recordFetch(record: FetchRecord, image?: StoredImageRow): Promise<void> {
  const r = record;
  const detail = r.detail?.slice(0, 500) ?? null;
  if (image) {
    await db().$executeRaw`
      WITH stored AS (
        INSERT INTO "Image" ("sha256", "path", "width", "height", "bytes", "sourceUrl", "phash")
        VALUES (${image.sha256}, ${image.path}, ${image.width}, ${image.height}, ${image.bytes}, ${image.sourceUrl}, ${image.phash})
        ON CONFLICT ("sha256") DO UPDATE SET "phash" = COALESCE("Image"."phash", EXCLUDED."phash"),
          "path" = EXCLUDED."path"
      )
      INSERT INTO "Fetch" ("url", "status", "reason", "retryable", "detail", "httpStatus", "sha256", "bytes", "ms", "runId", "iteration")
      VALUES (${r.url}, CAST(${r.status} AS "FetchStatus"),
        COALESCE(${r.reason ?? null}, (SELECT 'duplicate' FROM "Image" i WHERE i."sha256" = ${image.sha256} AND i."sourceUrl" <> ${r.url})),
        ${r.retryable ?? false}, ${detail}, ${r.httpStatus ?? null}, ${r.sha256 ?? null}, ${r.bytes ?? null}, ${r.ms}, ${r.runId}, ${r.iteration})
      ON CONFLICT ("url") DO UPDATE SET "status" = EXCLUDED."status", "reason" = EXCLUDED."reason",
        "retryable" = EXCLUDED."retryable", "detail" = EXCLUDED."detail", "attempts" = "Fetch"."attempts" + 1,
        "httpStatus" = EXCLUDED."httpStatus", "sha256" = EXCLUDED."sha256", "bytes" = EXCLUDED."bytes",
        "ms" = EXCLUDED."ms", "fetchedAt" = now()`;
  } else {
    await db().$executeRaw`
      INSERT INTO "Fetch" ("url", "status", "reason", "retryable", "detail", "httpStatus", "sha256", "bytes", "ms", "runId", "iteration")
      VALUES (${r.url}, CAST(${r.status} AS "FetchStatus"), ${r.reason ?? null}, ${r.retryable ?? false}, ${detail}, ${r.httpStatus ?? null}, ${r.sha256 ?? null}, ${r.bytes ?? null}, ${r.ms}, ${r.runId}, ${r.iteration})
      ON CONFLICT ("url") DO UPDATE SET "status" = EXCLUDED."status", "reason" = EXCLUDED."reason",
        "retryable" = EXCLUDED."retryable", "detail" = EXCLUDED."detail", "attempts" = "Fetch"."attempts" + 1,
        "httpStatus" = EXCLUDED."httpStatus", "sha256" = EXCLUDED."sha256", "bytes" = EXCLUDED."bytes",
        "ms" = EXCLUDED."ms", "fetchedAt" = now()`;
  }
}
