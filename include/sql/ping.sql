-- The cheapest query that proves the OUAF batch tables answer (reads no row).
SELECT COUNT(*) AS ROW_COUNT
FROM CI_BATCH_RUN
WHERE 1 = 0
