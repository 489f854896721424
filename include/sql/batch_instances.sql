-- CI_BATCH_INST rows (thread executions) of the runs batch_runs.sql reads (same bind parameters).
-- The batch codes and the window filter the runs; the rows are reached through the runs' key, so
-- the query costs what the day holds, not what the table's history holds. Codes are matched as
-- the database compares them (CHAR columns ignore trailing blanks); a run that comes back without
-- rows is looked up again with batch_instances_trimmed.sql, which compares them trimmed.
-- A thread restarted by an operator has one row per execution, told apart by SCHEDULER_ID.
SELECT I.BATCH_CD, I.BATCH_NBR, I.BATCH_RERUN_NBR, I.BATCH_THREAD_NBR, I.SCHEDULER_ID,
       I.START_DTTM, I.END_DTTM, I.REC_PROC_CNT, I.REC_ERR_CNT
FROM CI_BATCH_INST I
WHERE EXISTS (
        SELECT 1
        FROM CI_BATCH_RUN R
        WHERE R.BATCH_CD = I.BATCH_CD
          AND R.BATCH_NBR = I.BATCH_NBR
          AND R.BATCH_RERUN_NBR = I.BATCH_RERUN_NBR
          AND RTRIM(R.BATCH_CD) IN :batch_codes
          AND (
                (R.START_DTTM >= :window_start AND R.START_DTTM < :window_end
                 AND (R.END_DTTM IS NULL OR R.END_DTTM >= :window_start))
             OR (R.START_DTTM IS NULL AND R.BATCH_BUS_DT = :business_date)
          )
  )
ORDER BY I.BATCH_CD, I.BATCH_NBR, I.BATCH_RERUN_NBR, I.BATCH_THREAD_NBR, I.START_DTTM
