-- CreateTable
CREATE TABLE "Run" (
    "id" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    "config" JSONB NOT NULL,
    "targetDir" TEXT NOT NULL,
    "targetCount" INTEGER NOT NULL,
    "hasLabels" BOOLEAN NOT NULL,
    "labelNames" TEXT[],
    "status" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TargetImage" (
    "runId" TEXT NOT NULL,
    "idx" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "label" INTEGER,

    CONSTRAINT "TargetImage_pkey" PRIMARY KEY ("runId","idx")
);

-- CreateTable
CREATE TABLE "Iteration" (
    "runId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "stage" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    "queries" INTEGER NOT NULL DEFAULT 0,
    "results" INTEGER NOT NULL DEFAULT 0,
    "downloaded" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "kept" INTEGER NOT NULL DEFAULT 0,
    "meanReward" DOUBLE PRECISION,
    "knnAccuracy" DOUBLE PRECISION,
    "trainSteps" INTEGER,
    "trainLoss" DOUBLE PRECISION,
    "onnxPath" TEXT,
    "checkpoint" TEXT,

    CONSTRAINT "Iteration_pkey" PRIMARY KEY ("runId","index")
);

-- CreateTable
CREATE TABLE "StageTiming" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "stage" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "finishedAt" TIMESTAMP(3) NOT NULL,
    "ms" INTEGER NOT NULL,
    "dbMs" INTEGER NOT NULL,
    "attempt" INTEGER NOT NULL,

    CONSTRAINT "StageTiming_pkey" PRIMARY KEY ("runId","iteration","stage")
);

-- CreateTable
CREATE TABLE "Concept" (
    "id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,

    CONSTRAINT "Concept_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Query" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "conceptId" INTEGER NOT NULL,
    "descriptor" TEXT,
    "text" TEXT NOT NULL,
    "searchKey" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "results" INTEGER,
    "error" TEXT,

    CONSTRAINT "Query_pkey" PRIMARY KEY ("runId","iteration","conceptId")
);

-- CreateTable
CREATE TABLE "SearchResponse" (
    "provider" TEXT NOT NULL,
    "query" TEXT NOT NULL,
    "total" INTEGER NOT NULL,
    "fetchedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SearchResponse_pkey" PRIMARY KEY ("provider","query")
);

-- CreateTable
CREATE TABLE "SearchResult" (
    "provider" TEXT NOT NULL,
    "query" TEXT NOT NULL,
    "rank" INTEGER NOT NULL,
    "url" TEXT NOT NULL,
    "pageUrl" TEXT,
    "title" TEXT,

    CONSTRAINT "SearchResult_pkey" PRIMARY KEY ("provider","query","rank")
);

-- CreateTable
CREATE TABLE "Fetch" (
    "url" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "reason" TEXT,
    "httpStatus" INTEGER,
    "sha256" TEXT,
    "bytes" INTEGER,
    "ms" INTEGER,
    "fetchedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,

    CONSTRAINT "Fetch_pkey" PRIMARY KEY ("url")
);

-- CreateTable
CREATE TABLE "Image" (
    "sha256" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "bytes" INTEGER NOT NULL,
    "sourceUrl" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Image_pkey" PRIMARY KEY ("sha256")
);

-- CreateTable
CREATE TABLE "Candidate" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "conceptId" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "rank" INTEGER NOT NULL,

    CONSTRAINT "Candidate_pkey" PRIMARY KEY ("runId","iteration","conceptId","sha256")
);

-- CreateTable
CREATE TABLE "ImageReward" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "reward" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "ImageReward_pkey" PRIMARY KEY ("runId","iteration","sha256")
);

-- CreateTable
CREATE TABLE "ConceptReward" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "conceptId" INTEGER NOT NULL,
    "reward" DOUBLE PRECISION NOT NULL,
    "standardised" DOUBLE PRECISION NOT NULL,
    "images" INTEGER NOT NULL,

    CONSTRAINT "ConceptReward_pkey" PRIMARY KEY ("runId","iteration","conceptId")
);

-- CreateTable
CREATE TABLE "ReplayMember" (
    "runId" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "reward" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "ReplayMember_pkey" PRIMARY KEY ("runId","sha256")
);

-- CreateTable
CREATE TABLE "Distribution" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "temperature" DOUBLE PRECISION,
    "predicted" BYTEA NOT NULL,
    "probs" BYTEA NOT NULL,
    "lengthScale" DOUBLE PRECISION,
    "noise" DOUBLE PRECISION,
    "observed" INTEGER NOT NULL,
    "topConcepts" JSONB NOT NULL,

    CONSTRAINT "Distribution_pkey" PRIMARY KEY ("runId","iteration")
);

-- CreateTable
CREATE TABLE "Checkpoint" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "step" INTEGER NOT NULL,
    "path" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Checkpoint_pkey" PRIMARY KEY ("runId","iteration","step")
);

-- CreateTable
CREATE TABLE "Evaluation" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "metric" TEXT NOT NULL,
    "value" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "Evaluation_pkey" PRIMARY KEY ("runId","iteration","metric")
);

-- CreateIndex
CREATE UNIQUE INDEX "Concept_name_key" ON "Concept"("name");

-- CreateIndex
CREATE INDEX "Query_runId_conceptId_idx" ON "Query"("runId", "conceptId");

-- CreateIndex
CREATE INDEX "SearchResult_url_idx" ON "SearchResult"("url");

-- CreateIndex
CREATE INDEX "Candidate_runId_iteration_sha256_idx" ON "Candidate"("runId", "iteration", "sha256");

-- CreateIndex
CREATE INDEX "ConceptReward_runId_idx" ON "ConceptReward"("runId");

-- AddForeignKey
ALTER TABLE "TargetImage" ADD CONSTRAINT "TargetImage_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Iteration" ADD CONSTRAINT "Iteration_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StageTiming" ADD CONSTRAINT "StageTiming_runId_iteration_fkey" FOREIGN KEY ("runId", "iteration") REFERENCES "Iteration"("runId", "index") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SearchResult" ADD CONSTRAINT "SearchResult_provider_query_fkey" FOREIGN KEY ("provider", "query") REFERENCES "SearchResponse"("provider", "query") ON DELETE CASCADE ON UPDATE CASCADE;
