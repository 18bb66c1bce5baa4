-- Linear-probe accuracy of each iteration's encoder, next to its kNN accuracy.
ALTER TABLE "Iteration" ADD COLUMN "linearProbeAccuracy" DOUBLE PRECISION;
