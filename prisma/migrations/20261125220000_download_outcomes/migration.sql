-- Per-URL outcome classification, attempts, and perceptual hashes for near-duplicate detection.
ALTER TABLE "Fetch" ADD COLUMN "retryable" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "Fetch" ADD COLUMN "attempts" INTEGER NOT NULL DEFAULT 1;
ALTER TABLE "Fetch" ADD COLUMN "detail" TEXT;

ALTER TABLE "Image" ADD COLUMN "phash" TEXT;

-- CreateTable
CREATE TABLE "Exclusion" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "url" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "targetSha256" TEXT,
    "distance" INTEGER,

    CONSTRAINT "Exclusion_pkey" PRIMARY KEY ("runId","iteration","url")
);

-- CreateIndex
CREATE INDEX "Exclusion_runId_sha256_idx" ON "Exclusion"("runId", "sha256");
