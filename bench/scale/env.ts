// Imported first by bench/scale.ts and bench/soak.ts: their own logs at warn unless asked otherwise (the
// logger reads IE_LOG_LEVEL when it is first imported), so the tables are not buried in stage logs.
process.env.IE_LOG_LEVEL ??= 'warn';
