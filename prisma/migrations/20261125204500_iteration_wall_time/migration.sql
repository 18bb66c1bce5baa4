-- AlterTable
ALTER TABLE "Iteration" ADD COLUMN "wallMs" INTEGER;
