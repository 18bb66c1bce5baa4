-- Concepts added by runs (target class names, user additions) and cached concept descriptors.
ALTER TABLE "Concept" ADD COLUMN "source" TEXT NOT NULL DEFAULT 'wordnet';

CREATE TABLE "RunConcept" (
    "runId" TEXT NOT NULL,
    "conceptId" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "addedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RunConcept_pkey" PRIMARY KEY ("runId","conceptId")
);

CREATE TABLE "ConceptDescriptor" (
    "conceptId" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "descriptors" TEXT[],
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ConceptDescriptor_pkey" PRIMARY KEY ("conceptId","source","model")
);

CREATE TABLE "DescriptorFallback" (
    "runId" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL,
    "conceptId" INTEGER NOT NULL,
    "model" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DescriptorFallback_pkey" PRIMARY KEY ("runId","iteration","conceptId")
);
