-- Statuses as enums, and every table a run owns tied to its Run with ON DELETE CASCADE: deleting a run
-- deletes all of it. Fetch (a URL's outcome, shared by every run) only forgets which run fetched it first.
CREATE TYPE "RunStatus" AS ENUM ('preparing', 'running', 'paused', 'waiting-retry', 'completed', 'stopped', 'failed');
CREATE TYPE "RunMode" AS ENUM ('explore', 'random');
CREATE TYPE "IterationStatus" AS ENUM ('running', 'completed');
CREATE TYPE "FetchStatus" AS ENUM ('ok', 'failed');
CREATE TYPE "ControlKind" AS ENUM ('pause', 'resume', 'stop', 'temperature', 'addConcepts', 'retryIteration');

ALTER TABLE "Run"
  ALTER COLUMN "status" TYPE "RunStatus" USING "status"::"RunStatus",
  ALTER COLUMN "mode" TYPE "RunMode" USING "mode"::"RunMode";
ALTER TABLE "Iteration" ALTER COLUMN "status" TYPE "IterationStatus" USING "status"::"IterationStatus";
ALTER TABLE "RunControl" ALTER COLUMN "kind" TYPE "ControlKind" USING "kind"::"ControlKind";
ALTER TABLE "Fetch"
  ALTER COLUMN "status" TYPE "FetchStatus" USING "status"::"FetchStatus",
  ALTER COLUMN "runId" DROP NOT NULL,
  ALTER COLUMN "iteration" DROP NOT NULL;

-- Rows of runs deleted before runs owned their rows: nothing can refer to them any more.

DELETE FROM "RunConcept" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "DescriptorFallback" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "Query" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "Exclusion" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "Candidate" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "ImageReward" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "ConceptReward" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "ReplayMember" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "Distribution" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "Checkpoint" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "Evaluation" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "RunControl" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
DELETE FROM "IterationFailure" t WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = t."runId");
UPDATE "Fetch" f SET "runId" = NULL, "iteration" = NULL WHERE NOT EXISTS (SELECT 1 FROM "Run" r WHERE r."id" = f."runId");

ALTER TABLE "RunConcept" ADD CONSTRAINT "RunConcept_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "DescriptorFallback" ADD CONSTRAINT "DescriptorFallback_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Query" ADD CONSTRAINT "Query_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Exclusion" ADD CONSTRAINT "Exclusion_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Candidate" ADD CONSTRAINT "Candidate_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ImageReward" ADD CONSTRAINT "ImageReward_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ConceptReward" ADD CONSTRAINT "ConceptReward_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ReplayMember" ADD CONSTRAINT "ReplayMember_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Distribution" ADD CONSTRAINT "Distribution_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Checkpoint" ADD CONSTRAINT "Checkpoint_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Evaluation" ADD CONSTRAINT "Evaluation_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RunControl" ADD CONSTRAINT "RunControl_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "IterationFailure" ADD CONSTRAINT "IterationFailure_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Fetch" ADD CONSTRAINT "Fetch_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "Fetch_runId_idx" ON "Fetch"("runId");
