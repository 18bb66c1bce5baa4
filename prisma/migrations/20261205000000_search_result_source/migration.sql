-- Which provider of a combined search returned each hit: only the local provider's hits may be downloaded
-- from the local engine. Rows cached before this column (null) count as `provider`'s own.
ALTER TABLE "SearchResult" ADD COLUMN "source" TEXT;
