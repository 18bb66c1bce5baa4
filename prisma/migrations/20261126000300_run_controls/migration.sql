-- Controls sent to runs (accepted or rejected) and failed iteration executions awaiting a retry.
CREATE TABLE "RunControl" (
    "id" SERIAL NOT NULL,
    "runId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "iteration" INTEGER,
    "accepted" BOOLEAN NOT NULL,
    "reason" TEXT,
    "requestId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RunControl_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "RunControl_requestId_key" ON "RunControl"("requestId");
CREATE INDEX "RunControl_runId_kind_idx" ON "RunControl"("runId", "kind");

CREATE TABLE "IterationFailure" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "failure" INTEGER NOT NULL,
    "error" TEXT NOT NULL,
    "failedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retriedAt" TIMESTAMP(3),

    CONSTRAINT "IterationFailure_pkey" PRIMARY KEY ("runId","iteration","failure")
);
