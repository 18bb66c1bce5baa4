-- Bounded per-iteration work: a concept's evidence is a bounded sample of its images, rescored in bounded
-- batches; the replay buffer is a capped uniform sample (kept by hash key); distributions carry their
-- statistics so the report need not read every distribution's probabilities.
CREATE TABLE "ConceptEvidence" (
    "runId" TEXT NOT NULL,
    "conceptId" INTEGER NOT NULL,
    "sample" TEXT[],
    "reward" DOUBLE PRECISION,
    "standardised" DOUBLE PRECISION,
    "scoredIteration" INTEGER,

    CONSTRAINT "ConceptEvidence_pkey" PRIMARY KEY ("runId","conceptId")
);
CREATE INDEX "ConceptEvidence_runId_standardised_idx" ON "ConceptEvidence"("runId", "standardised");
CREATE INDEX "ConceptEvidence_runId_scoredIteration_idx" ON "ConceptEvidence"("runId", "scoredIteration");
ALTER TABLE "ConceptEvidence" ADD CONSTRAINT "ConceptEvidence_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing members get the key the score stage gives new ones: the first 15 hex digits of
-- sha256(runId || ':' || sha256), as a bigint.
ALTER TABLE "ReplayMember" ADD COLUMN "key" BIGINT;
UPDATE "ReplayMember" SET "key" = ('x' || substr(encode(sha256(convert_to("runId" || ':' || "sha256", 'UTF8')), 'hex'), 1, 15))::bit(60)::bigint;
ALTER TABLE "ReplayMember" ALTER COLUMN "key" SET NOT NULL;
CREATE INDEX "ReplayMember_runId_key_idx" ON "ReplayMember"("runId", "key");

ALTER TABLE "Distribution" ADD COLUMN "stats" JSONB;
