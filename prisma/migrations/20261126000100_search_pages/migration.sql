-- Search responses are cached per page: the page joins the key, so a deeper request fetches only the pages
-- it lacks. Rows from before are whole ranked lists (page 0, no page size) and stay valid: they serve any
-- request they are deep enough for.
ALTER TABLE "SearchResult" DROP CONSTRAINT "SearchResult_provider_query_fkey";
ALTER TABLE "SearchResponse" DROP CONSTRAINT "SearchResponse_pkey";

ALTER TABLE "SearchResponse" ADD COLUMN "page" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "pageSize" INTEGER,
ADD COLUMN "last" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN "depth" INTEGER;
ALTER TABLE "SearchResponse" ADD CONSTRAINT "SearchResponse_pkey" PRIMARY KEY ("provider", "query", "page");

ALTER TABLE "SearchResult" ADD COLUMN "page" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "SearchResult" ADD CONSTRAINT "SearchResult_provider_query_page_fkey" FOREIGN KEY ("provider", "query", "page") REFERENCES "SearchResponse"("provider", "query", "page") ON DELETE CASCADE ON UPDATE CASCADE;

-- The perceptual hash is now the dHash of area-averaged decoded pixels (no longer a libvips resize): hashes
-- stored before are dropped and recomputed from the stored images when next needed, so that every hash
-- compared with another was made the same way.
UPDATE "Image" SET "phash" = NULL WHERE "phash" IS NOT NULL;
